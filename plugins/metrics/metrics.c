/*
 * metrics - GET /metrics: every metric of the server in Prometheus's text
 * format 0.0.4 (the core's, this plugin's, the other plugins').
 *
 *   http_requests_total{route,method,code}            the core's counters
 *   http_request_duration_seconds{route,method}         (core/stats/)
 *   http_requests_in_flight
 *   evapi_connections_open{listener}
 *   evapi_connections_accepted_total{listener}
 *   evapi_connections_closed_total{listener,reason}
 *   evapi_requests_refused_total{reason}
 *   evapi_build_info{version,commit,environment}      1 (this plugin)
 *   process_*                                         (process.c)
 *   ... and what other plugins register (evapi_ready_*, evapi_db_pool_*)
 *
 * /metrics is a probe route: PROBE_PORT serves it too, and scrapes stay
 * out of the access log unless ACCESS_LOG_PROBES=on. Nothing is counted
 * here: a scrape reads the per-loop counters as it goes (the walk), so
 * the cost of metrics is the core's counting, paid whether or not this
 * plugin is loaded, and a scrape's own, paid every few seconds.
 */
#include <stdatomic.h>

#include <evapi/plugin.h>

#include "expose.h"
#include "process.h"

struct metrics {
	evapi_ctx *ctx;
	atomic_size_t last_len; /* the last body's size: the next one's hint */
};

static void
metrics_get(evapi_request *req, void *state)
{
	struct metrics *m = state;
	struct expose e;

	expose_init(&e,
		    atomic_load_explicit(&m->last_len, memory_order_relaxed) +
			    1024);
	if (evapi_metrics_walk(m->ctx, expose_sample, &e) != EVAPI_OK ||
	    e.failed) {
		expose_free(&e);
		evapi_respond_error(req, 503, "out of memory");
		return;
	}
	atomic_store_explicit(&m->last_len, e.len, memory_order_relaxed);
	evapi_respond(req, 200, EVAPI_EXPOSE_TYPE, e.p, e.len);
	expose_free(&e);
}

/* evapi_build_info{version,commit,environment} 1, as *_build_info gauges
 * are: the facts in labels, joined onto other series in queries. */
static int
build_info(evapi_ctx *ctx)
{
	static const char *const labels[] = {"version", "commit", "environment",
					     NULL};
	evapi_metric *m = evapi_gauge_new(
		ctx, "evapi_build_info",
		"A metric with a constant 1 labeled by the version, commit and "
		"environment evapi runs as.",
		labels);
	const char *env = evapi_fact(ctx, "environment");
	evapi_series *s = evapi_series_get(m, evapi_fact(ctx, "version"),
					   evapi_fact(ctx, "commit"),
					   env ? env : "", NULL);

	if (s == NULL)
		return EVAPI_ERR;
	evapi_gauge_set(s, 1);
	return EVAPI_OK;
}

static struct metrics state;

static int
metrics_init(evapi_ctx *ctx, void **out)
{
	state.ctx = ctx;
	if (build_info(ctx) != EVAPI_OK ||
	    evapi_process_metrics(ctx) != EVAPI_OK)
		return EVAPI_ERR;
	*out = &state;
	return EVAPI_OK;
}

static const struct evapi_route metrics_routes[] = {
	{EVAPI_GET, "/metrics", metrics_get, EVAPI_ROUTE_PROBE},
	EVAPI_ROUTES_END,
};

EVAPI_PLUGIN(metrics) = {
	EVAPI_PLUGIN_HEADER,
	.name = "metrics",
	.version = "1.0.0",
	.description = "GET /metrics: Prometheus text format 0.0.4",
	.routes = metrics_routes,
	.init = metrics_init,
};
