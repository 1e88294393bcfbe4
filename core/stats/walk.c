/*
 * walk.c - evapi_metrics_walk: every metric, the core's and the plugins',
 * read now (plugin.h). The list of families is fixed once the loops run;
 * each family's series are read as published (registry.c).
 */
#include "config.h"

#include "stats.h"

typedef int (*walk_fn)(const struct evapi_metric_info *m,
		       const struct evapi_sample *s, void *arg);

static int
walk_series(const struct evapi_metric *m, walk_fn fn, void *arg)
{
	const struct evapi_metric_info *info = evapi_metric_info_of(m);
	const struct evapi_series *s;
	uint64_t buckets[65]; /* registry.c allows 64 bounds */
	struct evapi_sample sample;

	for (s = evapi_metric_series(m); s != NULL; s = evapi_series_next(s)) {
		evapi_series_read(s, info, &sample, buckets);
		if (fn(info, &sample, arg) != EVAPI_OK)
			return EVAPI_ERR;
	}
	return EVAPI_OK;
}

int
evapi_metrics_walk(evapi_ctx *ctx, walk_fn fn, void *arg)
{
	const struct evapi_metric *m;
	evapi_collect_fn collect;

	(void)ctx;
	if (fn == NULL)
		return EVAPI_ERR;
	for (m = evapi_metric_first(); m != NULL; m = evapi_metric_next_of(m)) {
		if (fn(evapi_metric_info_of(m), NULL, arg) != EVAPI_OK)
			return EVAPI_ERR;
		collect = evapi_metric_collector(m);
		if ((collect != NULL ? collect(evapi_metric_info_of(m), fn, arg)
				     : walk_series(m, fn, arg)) != EVAPI_OK)
			return EVAPI_ERR;
	}
	return EVAPI_OK;
}
