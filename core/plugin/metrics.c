/*
 * metrics.c - the metrics part of the plugin API (plugin.h): a plugin
 * registers its families in init and may give a series a callback. The
 * families themselves live in stats/registry.c; this file holds what is
 * about plugins: when they may register, and how a refusal is reported.
 */
#include "config.h"

#include "host.h"
#include "stats/stats.h"

static evapi_metric *
plugin_family(evapi_ctx *c, int type, const char *name, const char *help,
	      const char *const *labels, const double *bounds, size_t n,
	      const char *fn)
{
	const struct evapi_metric *other;
	struct evapi_metric *m;
	const char *why;

	if (c == NULL)
		return NULL;
	if (!c->initialising) {
		evapi_plugin_report(c->name, c->path, "%s is for init only",
				    fn);
		return NULL;
	}
	m = evapi_metric_register(type, name ? name : "", help, labels, bounds,
				  n, c, c->name, &why, &other);
	if (m != NULL)
		return m;
	if (other != NULL)
		evapi_plugin_report(
			c->name, c->path,
			"metric %s is already registered by %s%s%s", name,
			evapi_metric_owner(other) ? "plugin \"" : "",
			evapi_metric_owner_name(other),
			evapi_metric_owner(other) ? "\"" : "");
	else
		evapi_plugin_report(c->name, c->path, "metric \"%.200s\": %s",
				    name ? name : "(null)", why);
	c->reported = 1;
	return NULL;
}

evapi_metric *
evapi_counter_new(evapi_ctx *c, const char *name, const char *help,
		  const char *const *labels)
{
	return plugin_family(c, EVAPI_METRIC_COUNTER, name, help, labels, NULL,
			     0, "evapi_counter_new");
}

evapi_metric *
evapi_gauge_new(evapi_ctx *c, const char *name, const char *help,
		const char *const *labels)
{
	return plugin_family(c, EVAPI_METRIC_GAUGE, name, help, labels, NULL, 0,
			     "evapi_gauge_new");
}

evapi_metric *
evapi_histogram_new(evapi_ctx *c, const char *name, const char *help,
		    const char *const *labels, const double *bounds, size_t n)
{
	return plugin_family(c, EVAPI_METRIC_HISTOGRAM, name, help, labels,
			     bounds, bounds ? n : 0, "evapi_histogram_new");
}

int
evapi_series_callback(evapi_series *s, double (*fn)(void *arg), void *arg)
{
	const struct evapi_metric *m;
	const struct evapi_ctx *owner;

	if (s == NULL || fn == NULL)
		return EVAPI_ERR;
	m = evapi_series_metric(s);
	owner = evapi_metric_owner(m);
	if (owner == NULL || !owner->initialising ||
	    evapi_metric_info_of(m)->type == EVAPI_METRIC_HISTOGRAM) {
		if (owner != NULL)
			evapi_plugin_report(owner->name, owner->path,
					    "evapi_series_callback is for a "
					    "counter's or a gauge's series, "
					    "in init");
		return EVAPI_ERR;
	}
	return evapi_series_callback_set(s, fn, arg);
}
