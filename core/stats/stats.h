/*
 * stats.h - what the core counts, and the metrics plugins register.
 *
 * The core counts per event loop (counters.c): requests by route, method
 * and status, their durations, requests in flight, connections accepted
 * and closed (by reason), refusals (by reason). Each loop has its own
 * block, allocated on its own cache lines and written only by the loop's
 * thread with plain (relaxed atomic) stores: no lock, no shared line, no
 * locked instruction on the hot path. A reader sums the blocks when it
 * reads (collect.c), which is rare (a scrape every few seconds).
 *
 * Plugins register counters, gauges and histograms (registry.c); their
 * series count per thread the same way (series.c). evapi_metrics_walk
 * reads the core's and the plugins' metrics alike (walk.c).
 */
#ifndef EVAPI_STATS_STATS_H
#define EVAPI_STATS_STATS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <evapi/plugin.h>

/* A counter one thread writes and any thread reads. */
typedef _Atomic uint64_t evapi_stat;

/* Only the owning thread writes: a load and a store, no locked add. */
static inline void
evapi_stat_add(evapi_stat *p, uint64_t n)
{
	atomic_store_explicit(p,
			      atomic_load_explicit(p, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

static inline uint64_t
evapi_stat_get(const evapi_stat *p)
{
	return atomic_load_explicit((evapi_stat *)p, memory_order_relaxed);
}

/* ---- what is counted ------------------------------------------------------
 */

/* Methods: the EVAPI_* bits in order, TRACE, and anything else. */
#define EVAPI_STATS_METHODS 9
/* Request durations: upper bounds in nanoseconds (codes.c), the
 * OpenTelemetry HTTP server boundaries with finer ones below 5 ms. */
#define EVAPI_STATS_NBOUNDS 17
extern const uint64_t evapi_stats_bounds_ns[EVAPI_STATS_NBOUNDS];
extern const double evapi_stats_bounds_s[EVAPI_STATS_NBOUNDS];
/* Status codes counted one by one (the registered ones), then one slot
 * per class for the rest ("2xx" ... "5xx"). */
#define EVAPI_STATS_NCODES 62

/* The listener a connection came through. */
enum evapi_listener_kind {
	EVAPI_LISTENER_MAIN,
	EVAPI_LISTENER_PROBE,
	EVAPI_LISTENER_N
};

/* Why a connection closed. */
enum evapi_close_reason {
	EVAPI_CLOSE_OTHER,	    /* the client, an answer's close, errors */
	EVAPI_CLOSE_CAP,	    /* evicted at MAX_CONNECTIONS */
	EVAPI_CLOSE_HEADER_TIMEOUT, /* its head took over HEADER_TIMEOUT */
	EVAPI_CLOSE_IDLE_TIMEOUT,   /* idle (or a stalled write) past
				       IDLE_TIMEOUT */
	EVAPI_CLOSE_N
};

/* Why the request checks (the gate) refused a request, by its status. */
enum evapi_refusal {
	EVAPI_REFUSED_BAD_REQUEST,     /* 400: grammar, framing, Host */
	EVAPI_REFUSED_BODY_TOO_LARGE,  /* 413 */
	EVAPI_REFUSED_TARGET_TOO_LONG, /* 414 */
	EVAPI_REFUSED_EXPECTATION,     /* 417 */
	EVAPI_REFUSED_HEAD_TOO_LARGE,  /* 431 */
	EVAPI_REFUSED_NOT_IMPLEMENTED, /* 501: method, transfer coding */
	EVAPI_REFUSED_OUT_OF_MEMORY,   /* 503 */
	EVAPI_REFUSED_VERSION,	       /* 505 */
	EVAPI_REFUSED_OTHER,
	EVAPI_REFUSED_N
};

/* One route and method on one loop. BUCKETS are not cumulative: the
 * count is their sum, so +Inf always equals _count in a reading. */
struct evapi_route_stats {
	evapi_stat codes[EVAPI_STATS_NCODES];
	evapi_stat buckets[EVAPI_STATS_NBOUNDS + 1];
	/* The sum: whole microseconds, and the nanoseconds left over (under
	 * 1000). Exact, and 2^64 microseconds wrap in no server's life. */
	evapi_stat sum_us, sum_rem_ns;
};

/* One loop's block. */
struct evapi_loop_stats {
	evapi_stat accepted[EVAPI_LISTENER_N];
	evapi_stat closed[EVAPI_LISTENER_N][EVAPI_CLOSE_N];
	evapi_stat refused[EVAPI_REFUSED_N];
	/* In flight: started - answered (read answered first). */
	evapi_stat started, answered;
	/* NROUTES x EVAPI_STATS_METHODS, each made on first use by the
	 * loop's thread; NULL until the routes are known. */
	struct evapi_route_stats *_Atomic *routes;
};

/* ---- counters.c: the core's counting
 * ------------------------------------------ */

/* Blocks for NLOOPS loops, before any loop counts. */
int evapi_stats_setup(unsigned nloops);
/* The pattern route slot ROUTE (below NPATHS) counts under for method
 * index M, or NULL; ROUTES is what evapi_stats_routes was given. The
 * router answers it: the counters know routes only by number. */
typedef const char *(*evapi_route_label_fn)(const void *routes,
					    unsigned route, unsigned m);
/* The routes are registered (after the plugins' init): NPATHS route
 * slots, named by LABEL when the counters are read. */
int evapi_stats_routes(unsigned npaths, evapi_route_label_fn label,
		       const void *routes);
/* After every loop and plugin ended. */
void evapi_stats_free(void);
/* Loop LOOP's block (NULL before setup), and how many there are. */
struct evapi_loop_stats *evapi_stats_loop(unsigned loop);
unsigned evapi_stats_nloops(void);

/* Route slots beyond the router's paths. */
#define EVAPI_ROUTE_UNMATCHED(nroutes) ((nroutes)-2)
#define EVAPI_ROUTE_ASTERISK(nroutes) ((nroutes)-1)
extern unsigned evapi_stats_route_count; /* paths + 2; 0 before routes */

static inline unsigned
evapi_stats_nroutes(void)
{
	return evapi_stats_route_count;
}

/* The label of route slot ROUTE for method index M: the registered
 * pattern ("/items/{id}"), "unmatched" (no route; never a pattern: those
 * start with '/'), or "*" (OPTIONS *). */
const char *evapi_stats_route_label(unsigned route, unsigned m);
const char *evapi_stats_method_name(unsigned m);

/* The method index of an EVAPI_* bit (or TRACE), else _OTHER's. */
static inline unsigned
evapi_stats_method_index(unsigned method_id)
{
	unsigned m;

	if (method_id == 0 || (method_id & (method_id - 1)) != 0)
		return EVAPI_STATS_METHODS - 1;
	m = (unsigned)__builtin_ctz(method_id);
	return m < EVAPI_STATS_METHODS - 1 ? m : EVAPI_STATS_METHODS - 1;
}

/* A request on ST's loop was answered with STATUS after NS nanoseconds. */
void evapi_stats_request(struct evapi_loop_stats *st, unsigned route,
			 unsigned method, int status, uint64_t ns);
enum evapi_refusal evapi_stats_refusal_of(int status);
const char *evapi_stats_refusal_name(enum evapi_refusal r);
const char *evapi_stats_close_name(enum evapi_close_reason r);
const char *evapi_stats_listener_name(enum evapi_listener_kind l);

/* ---- codes.c
 * ----------------------------------------------------------------- */

/* Slots of the statuses 200 to 599 (built at setup). */
extern unsigned char evapi_stats_code_slots[400];
void evapi_stats_codes_build(void);

static inline unsigned
evapi_stats_code_index(int status)
{
	/* respond.c sends anything else as 500. */
	return status >= 200 && status <= 599
		       ? evapi_stats_code_slots[status - 200]
		       : evapi_stats_code_slots[300];
}
/* "200", ..., or "2xx" for a class slot. */
const char *evapi_stats_code_label(unsigned index);

/* ---- registry.c: families
 * ---------------------------------------------------------- */

/* A family the core makes its samples for at each read. */
typedef int (*evapi_collect_fn)(const struct evapi_metric_info *m,
				int (*fn)(const struct evapi_metric_info *m,
					  const struct evapi_sample *s,
					  void *arg),
				void *arg);
/* Register one of the core's families (before the plugins start). */
int evapi_metric_core(const char *name, const char *help, int type,
		      const char *const *labels, evapi_collect_fn collect);
/* Register a family of TYPE for OWNER (a plugin, opaque here; NULL: the
 * core), called OWNER_NAME in logs. NBOUNDS 0: a histogram gets the
 * default buckets. NULL with *WHY naming the problem, and *OTHER the
 * family that already has the name. */
struct evapi_metric *
evapi_metric_register(int type, const char *name, const char *help,
		      const char *const *labels, const double *bounds,
		      size_t nbounds, const void *owner, const char *owner_name,
		      const char **why, const struct evapi_metric **other);
const void *evapi_metric_owner(const struct evapi_metric *m);
const char *evapi_metric_owner_name(const struct evapi_metric *m);
/* Every family, in order (for walk.c). */
struct evapi_metric *evapi_metric_first(void);
struct evapi_metric *evapi_metric_next_of(const struct evapi_metric *m);
const struct evapi_metric_info *
evapi_metric_info_of(const struct evapi_metric *m);
evapi_collect_fn evapi_metric_collector(const struct evapi_metric *m);
struct evapi_series *evapi_metric_series(const struct evapi_metric *m);
void evapi_metrics_free(void);

/* ---- series.c: a series' cells
 * -------------------------------------------------- */

/* A series of M with VALUES (copied), its cells for NLOOPS loops plus
 * one slot shared by other threads. */
struct evapi_series *evapi_series_make(struct evapi_metric *m,
				       const struct evapi_metric_info *info,
				       const char *const *values);
void evapi_series_free(struct evapi_series *s);
int evapi_series_matches(const struct evapi_series *s, size_t n,
			 const char *const *values);
struct evapi_series *evapi_series_next(const struct evapi_series *s);
void evapi_series_link(struct evapi_series *prev, struct evapi_series *s);
/* Read S now into OUT (BUCKETS: room for nbounds + 1 counts). */
void evapi_series_read(const struct evapi_series *s,
		       const struct evapi_metric_info *info,
		       struct evapi_sample *out, uint64_t *buckets);
int evapi_series_callback_set(struct evapi_series *s, double (*fn)(void *arg),
			      void *arg);
const struct evapi_metric *evapi_series_metric(const struct evapi_series *s);

/* ---- collect.c: the core's families
 * -------------------------------------------- */

/* After evapi_stats_setup and before the plugins start, so that the
 * core's families come first; HAVE_PROBE: PROBE_PORT listens. */
int evapi_stats_register_core(int have_probe);

#endif
