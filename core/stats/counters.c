/*
 * counters.c - the core's counting, one block per event loop (stats.h).
 *
 * Every block and every route block is its own allocation, aligned to
 * and sized in whole cache lines, so that no two loops ever write the
 * same line. A route block is made by the loop's thread the first time
 * that loop answers that route and method, and published with a release
 * store: a reader sees either nothing (zero) or a zeroed block.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "stats.h"

#define LINE 64

static struct evapi_loop_stats **blocks;
static unsigned nblocks;
static evapi_route_label_fn label_of;
static const void *routes_of;
unsigned evapi_stats_route_count;

static void *
lines_alloc(size_t n)
{
	size_t size = (n + LINE - 1) / LINE * LINE;
	void *p = aligned_alloc(LINE, size);

	if (p != NULL)
		memset(p, 0, size);
	return p;
}

int
evapi_stats_setup(unsigned nloops)
{
	unsigned i;

	evapi_stats_free();
	evapi_stats_codes_build(); /* before any thread reads it */
	blocks = calloc(nloops, sizeof(*blocks));
	if (blocks == NULL)
		return EVAPI_ERR;
	nblocks = nloops;
	for (i = 0; i < nloops; i++)
		if ((blocks[i] = lines_alloc(sizeof(*blocks[i]))) == NULL)
			return EVAPI_ERR;
	return EVAPI_OK;
}

int
evapi_stats_routes(unsigned npaths, evapi_route_label_fn label,
		   const void *routes)
{
	unsigned i;

	label_of = label;
	routes_of = routes;
	evapi_stats_route_count = npaths + 2;
	for (i = 0; i < nblocks; i++) {
		blocks[i]->routes = calloc((size_t)evapi_stats_route_count *
						   EVAPI_STATS_METHODS,
					   sizeof(*blocks[i]->routes));
		if (blocks[i]->routes == NULL)
			return EVAPI_ERR;
	}
	return EVAPI_OK;
}

void
evapi_stats_free(void)
{
	unsigned i;
	size_t k;

	for (i = 0; i < nblocks; i++) {
		if (blocks[i] == NULL)
			continue;
		for (k = 0;
		     blocks[i]->routes != NULL &&
		     k < (size_t)evapi_stats_route_count * EVAPI_STATS_METHODS;
		     k++)
			free(blocks[i]->routes[k]);
		free(blocks[i]->routes);
		free(blocks[i]);
	}
	free(blocks);
	blocks = NULL;
	nblocks = 0;
	evapi_stats_route_count = 0;
	label_of = NULL;
	routes_of = NULL;
	evapi_metrics_free();
}

struct evapi_loop_stats *
evapi_stats_loop(unsigned loop)
{
	return loop < nblocks ? blocks[loop] : NULL;
}

unsigned
evapi_stats_nloops(void)
{
	return nblocks;
}

/* ---- labels
 * ------------------------------------------------------------------ */

static const char *const method_names[EVAPI_STATS_METHODS] = {
	"GET",	  "HEAD",    "POST",  "PUT",	"PATCH",
	"DELETE", "OPTIONS", "TRACE", "_OTHER",
};

const char *
evapi_stats_method_name(unsigned m)
{
	return method_names[m < EVAPI_STATS_METHODS ? m
						    : EVAPI_STATS_METHODS - 1];
}

const char *
evapi_stats_route_label(unsigned route, unsigned m)
{
	const char *label;

	if (route == EVAPI_ROUTE_ASTERISK(evapi_stats_route_count))
		return "*";
	if (label_of == NULL ||
	    route >= EVAPI_ROUTE_UNMATCHED(evapi_stats_route_count))
		return "unmatched";
	label = label_of(routes_of, route, m);
	return label != NULL ? label : "unmatched";
}

static const char *const refusal_names[EVAPI_REFUSED_N] = {
	"bad_request",	 "body_too_large",	  "target_too_long",
	"expectation",	 "head_too_large",	  "not_implemented",
	"out_of_memory", "version_not_supported", "other",
};

enum evapi_refusal
evapi_stats_refusal_of(int status)
{
	switch (status) {
	case 400:
		return EVAPI_REFUSED_BAD_REQUEST;
	case 413:
		return EVAPI_REFUSED_BODY_TOO_LARGE;
	case 414:
		return EVAPI_REFUSED_TARGET_TOO_LONG;
	case 417:
		return EVAPI_REFUSED_EXPECTATION;
	case 431:
		return EVAPI_REFUSED_HEAD_TOO_LARGE;
	case 501:
		return EVAPI_REFUSED_NOT_IMPLEMENTED;
	case 503:
		return EVAPI_REFUSED_OUT_OF_MEMORY;
	case 505:
		return EVAPI_REFUSED_VERSION;
	default:
		return EVAPI_REFUSED_OTHER;
	}
}

const char *
evapi_stats_refusal_name(enum evapi_refusal r)
{
	return refusal_names[r < EVAPI_REFUSED_N ? r : EVAPI_REFUSED_OTHER];
}

const char *
evapi_stats_close_name(enum evapi_close_reason r)
{
	static const char *const names[EVAPI_CLOSE_N] = {
		"other", "cap", "header_timeout", "idle_timeout"};

	return names[r < EVAPI_CLOSE_N ? r : EVAPI_CLOSE_OTHER];
}

const char *
evapi_stats_listener_name(enum evapi_listener_kind l)
{
	return l == EVAPI_LISTENER_PROBE ? "probe" : "main";
}

/* ---- the hot path
 * -------------------------------------------------------------- */

/* The loop's block for ROUTE and M, made on first use by its thread. */
static struct evapi_route_stats *
route_block(struct evapi_loop_stats *st, size_t slot)
{
	struct evapi_route_stats *rs =
		atomic_load_explicit(&st->routes[slot], memory_order_relaxed);

	if (rs != NULL)
		return rs;
	rs = lines_alloc(sizeof(*rs));
	if (rs != NULL)
		atomic_store_explicit(&st->routes[slot], rs,
				      memory_order_release);
	return rs;
}

void
evapi_stats_request(struct evapi_loop_stats *st, unsigned route,
		    unsigned method, int status, uint64_t ns)
{
	struct evapi_route_stats *rs;
	unsigned b = 0;
	uint64_t rem;

	evapi_stat_add(&st->answered, 1);
	if (st->routes == NULL || route >= evapi_stats_route_count)
		return;
	rs = route_block(st, (size_t)route * EVAPI_STATS_METHODS + method);
	if (rs == NULL)
		return; /* out of memory: this answer goes uncounted */
	evapi_stat_add(&rs->codes[evapi_stats_code_index(status)], 1);
	/* Most answers land in the first bucket: a short scan. */
	while (b < EVAPI_STATS_NBOUNDS && ns > evapi_stats_bounds_ns[b])
		b++;
	evapi_stat_add(&rs->buckets[b], 1);
	rem = evapi_stat_get(&rs->sum_rem_ns) + ns % 1000u;
	evapi_stat_add(&rs->sum_us, ns / 1000u + rem / 1000u);
	atomic_store_explicit(&rs->sum_rem_ns, rem % 1000u,
			      memory_order_relaxed);
}
