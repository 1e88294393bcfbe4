/*
 * ready - readiness: GET /ready answers 200 when PostgreSQL answers
 * "SELECT 1", 503 when it does not, and 503 {"status":"draining"} once the
 * server drains, so a load balancer stops sending traffic before exit.
 *
 * The check is a "SELECT 1" through the pg plugin's pool (evapi/pg.h), on
 * the main loop, under READY_TIMEOUT_MS; it never blocks a loop. Requests
 * from every loop coalesce onto the one check in flight, and its result
 * answers for READY_CACHE_MS, so a burst of probes costs the database at
 * most one query per cache period.
 *
 * Threads: a handler runs on the loop that accepted its connection. A
 * request that needs a fresh check waits (evapi_defer) in a list under the
 * mutex, and the check is started on the main loop (evapi_loop_call); when
 * it ends, each waiting request is handed back to its own loop and
 * answered there. Every response body is built once, at init.
 *
 * Metrics (served by the metrics plugin when it is loaded): the last
 * check's result and duration as gauges, and the checks by result.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <evapi/pg.h>
#include <evapi/plugin.h>

/* The first check runs this long after start (see ready_init). */
#define FIRST_CHECK_MS 50

/* One request waiting for the check in flight. */
struct waiter {
	struct ready *r;
	evapi_request *req;
	evapi_loop *loop;  /* the request's own loop */
	int handed;        /* scheduled on LOOP with its answer */
	int gone;          /* its client left: the answer is dropped */
	int status;
	const evapi_body *body;
	struct waiter *prev, *next;
};

/* The answers for each reason the pool can give (evapi_pg_reasons). */
#define MAX_REASONS 32

struct ready {
	evapi_ctx *ctx;
	evapi_loop *main_loop;
	const evapi_pg_stmt *select1;
	evapi_timer *first; /* the first check, unless a probe came first */
	unsigned cache_ms;
	unsigned timeout_ms;

	const evapi_body *body_ok;
	const evapi_body *body_draining;
	const char *reasons[MAX_REASONS];
	const evapi_body *body_fail[MAX_REASONS];
	size_t nreasons;

	/* Main loop only. */
	int have_state;          /* a check has finished before */
	const char *state;       /* its reason, for change logs */
	uint64_t check_start_us; /* the check in flight began */

	/* Metrics: the last check's result (1 ok, 0 not) and duration, and
	 * the checks by result: [0] ok, then one per reason. */
	evapi_series *m_success, *m_duration;
	evapi_series *m_checks[MAX_REASONS + 1];

	/* Shared by every loop; guarded by MU. */
	pthread_mutex_t mu;
	int in_flight;
	int have_result;
	uint64_t valid_until; /* monotonic ms */
	int status;
	const evapi_body *body;
	struct waiter *waiters; /* pending and handed */
};

static const struct evapi_setting ready_settings[] = {
	{"READY_TIMEOUT_MS", EVAPI_SETTING_INT, "500", 10, 60000, NULL,
	 "deadline of one database check, waiting for a connection "
	 "included, in milliseconds", 0},
	{"READY_CACHE_MS", EVAPI_SETTING_INT, "1000", 0, 3600000, NULL,
	 "how long a check's result answers /ready before the next check, in "
	 "milliseconds", 0},
	EVAPI_SETTINGS_END,
};

static uint64_t
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t
mono_ms(void)
{
	return mono_us() / 1000u;
}

static void
waiter_unlink(struct ready *r, struct waiter *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		r->waiters = w->next;
	if (w->next)
		w->next->prev = w->prev;
	w->prev = w->next = NULL;
}

/* On the request's own loop: answer it. */
static void
waiter_deliver(void *arg)
{
	struct waiter *w = arg;
	struct ready *r = w->r;

	/* An orphan was handed over before fini freed the plugin state; it
	 * carries all it needs (the bodies belong to the host). */
	if (r != NULL) {
		pthread_mutex_lock(&r->mu);
		waiter_unlink(r, w);
		pthread_mutex_unlock(&r->mu);
	}
	evapi_respond_body(w->req, w->status, w->body);
	free(w);
}

/* The client left before the answer (on the request's loop). */
static void
waiter_gone(evapi_request *req, void *arg)
{
	struct waiter *w = arg;
	struct ready *r = w->r;

	(void)req;
	pthread_mutex_lock(&r->mu);
	if (w->handed) {
		/* Its answer is on the way: waiter_deliver drops it. */
		w->gone = 1;
		pthread_mutex_unlock(&r->mu);
		return;
	}
	waiter_unlink(r, w);
	pthread_mutex_unlock(&r->mu);
	evapi_respond_body(w->req, 503, r->body_draining);
	free(w);
}

/* The draining or cached answer; NULL when a database check is due. */
static const evapi_body *
ready_answer(struct ready *r, int *status)
{
	const evapi_body *body = NULL;

	/* Draining wins over any database state: stop the traffic first. */
	if (evapi_draining()) {
		*status = 503;
		return r->body_draining;
	}
	pthread_mutex_lock(&r->mu);
	if (r->have_result && mono_ms() < r->valid_until) {
		*status = r->status;
		body = r->body;
	}
	pthread_mutex_unlock(&r->mu);
	if (body != NULL && *status == 200) {
		struct evapi_pg_stats st;

		/* Every connection broke since: the cached "ok" is stale,
		 * check (and wait for the reconnection) now. */
		evapi_pg_stats(&st);
		if (st.open == 0)
			body = NULL;
	}
	return body;
}

static void ready_start(void *arg);

/* Start a check unless one runs, adding W to the requests waiting for it
 * in the same step; any thread. W NULL is the start-up check: skipped
 * when a probe already brought a result. */
static void
start_check(struct ready *r, struct waiter *w)
{
	int start;

	pthread_mutex_lock(&r->mu);
	if (w != NULL) {
		w->next = r->waiters;
		if (r->waiters)
			r->waiters->prev = w;
		r->waiters = w;
	}
	start = !r->in_flight && (w != NULL || !r->have_result);
	if (start)
		r->in_flight = 1;
	pthread_mutex_unlock(&r->mu);
	if (start && evapi_loop_call(r->main_loop, ready_start, r) != EVAPI_OK) {
		pthread_mutex_lock(&r->mu);
		r->in_flight = 0;
		pthread_mutex_unlock(&r->mu);
	}
}

static void
ready_get(evapi_request *req, void *state)
{
	struct ready *r = state;
	const evapi_body *body;
	struct waiter *w;
	int status;

	body = ready_answer(r, &status);
	if (body != NULL) {
		evapi_respond_body(req, status, body);
		return;
	}
	w = calloc(1, sizeof(*w));
	if (w == NULL) {
		evapi_respond_body(req, 503, r->body_draining);
		return;
	}
	w->r = r;
	w->req = req;
	w->loop = evapi_request_loop(req);
	evapi_defer(req, waiter_gone, w);
	start_check(r, w);
}

/* ---- the main loop's side ------------------------------------------------------ */

static void check_done(const evapi_pg_result *res, void *arg);

static void
ready_start(void *arg)
{
	struct ready *r = arg;

	r->check_start_us = mono_us();
	/* Safe to repeat: a connection lost under it is retried once on a
	 * fresh one, within the same deadline. */
	if (evapi_pg_query(r->main_loop, r->select1, NULL, 0, EVAPI_PG_RETRY,
			   r->timeout_ms, check_done, r) == NULL) {
		pthread_mutex_lock(&r->mu);
		r->in_flight = 0;
		pthread_mutex_unlock(&r->mu);
	}
}

static void
first_check(evapi_timer *t, void *arg)
{
	(void)t;
	start_check(arg, NULL);
}

static void
log_transition(struct ready *r, const char *why, const char *detail)
{
	if (strcmp(why, "ok") == 0) {
		if (!r->have_state)
			evapi_log(r->ctx, EVAPI_LOG_INFO, "database ready", NULL);
		else if (strcmp(r->state, "ok") != 0)
			evapi_log(r->ctx, EVAPI_LOG_INFO, "database ready again",
				  NULL);
		return;
	}
	evapi_log(r->ctx,
		  !r->have_state || strcmp(r->state, why) != 0
			  ? EVAPI_LOG_WARN
			  : EVAPI_LOG_DEBUG,
		  "database unavailable", "reason", why, "detail", detail,
		  NULL);
}

/* The index of WHY in the pool's reasons; NREASONS when unknown. */
static size_t
reason_index(const struct ready *r, const char *why)
{
	size_t i;

	for (i = 0; i < r->nreasons; i++)
		if (strcmp(r->reasons[i], why) == 0)
			break;
	return i;
}

static void
count_check(struct ready *r, int ok, size_t reason)
{
	evapi_gauge_set(r->m_success, ok);
	evapi_gauge_set(r->m_duration,
			(double)(mono_us() - r->check_start_us) / 1e6);
	if (ok)
		evapi_counter_add(r->m_checks[0], 1);
	else if (reason < r->nreasons)
		evapi_counter_add(r->m_checks[reason + 1], 1);
}

static void
check_done(const evapi_pg_result *res, void *arg)
{
	struct ready *r = arg;
	int ok = evapi_pg_status(res) == EVAPI_PG_OK;
	/* A server error on SELECT 1 is "query failed", whatever it is. */
	const char *why = ok ? "ok"
			     : evapi_pg_status(res) == EVAPI_PG_ERROR
				       ? "query failed"
				       : evapi_pg_reason(res);
	size_t reason = ok ? 0 : reason_index(r, why);
	const evapi_body *body = ok ? r->body_ok
			       : reason < r->nreasons ? r->body_fail[reason]
						      : r->body_draining;
	int status = ok ? 200 : 503;
	struct waiter *w;

	log_transition(r, why, evapi_pg_message(res));
	r->have_state = 1;
	r->state = why;
	count_check(r, ok, reason);

	pthread_mutex_lock(&r->mu);
	r->have_result = 1;
	r->valid_until = mono_ms() + r->cache_ms;
	r->status = status;
	r->body = body;
	r->in_flight = 0;
	/* Hand every waiting request to its own loop. */
	for (w = r->waiters; w != NULL; w = w->next) {
		if (w->handed)
			continue;
		w->status = status;
		w->body = body;
		if (evapi_loop_call(w->loop, waiter_deliver, w) == EVAPI_OK)
			w->handed = 1;
		else
			evapi_log(r->ctx, EVAPI_LOG_ERROR,
				  "cannot hand a /ready answer to its loop; it "
				  "is answered at shutdown",
				  NULL);
	}
	pthread_mutex_unlock(&r->mu);
}

/* ---- init and fini -------------------------------------------------------------- */

static int
build_bodies(struct ready *r)
{
	const char *const *reasons = evapi_pg_reasons();
	char json[160];

	r->body_ok = evapi_body_json(
		r->ctx, "{\"status\":\"ok\",\"checks\":{\"database\":\"ok\"}}");
	r->body_draining = evapi_body_json(r->ctx, "{\"status\":\"draining\"}");
	if (!r->body_ok || !r->body_draining)
		return EVAPI_ERR;
	for (; *reasons != NULL && r->nreasons < MAX_REASONS; reasons++) {
		/* The reasons are fixed lowercase words: no escaping. */
		snprintf(json, sizeof(json),
			 "{\"status\":\"unavailable\",\"checks\":"
			 "{\"database\":\"%s\"}}",
			 *reasons);
		r->reasons[r->nreasons] = *reasons;
		r->body_fail[r->nreasons] = evapi_body_json(r->ctx, json);
		if (!r->body_fail[r->nreasons++])
			return EVAPI_ERR;
	}
	return EVAPI_OK;
}

/* Registered whether or not the metrics plugin is loaded. */
static int
register_metrics(struct ready *r)
{
	static const char *const result[] = {"result", NULL};
	evapi_metric *checks;
	size_t i;

	r->m_success = evapi_series_get(
		evapi_gauge_new(r->ctx, "evapi_ready_check_success",
				"1 when the last readiness check reached the "
				"database, 0 when it did not.",
				NULL),
		NULL);
	r->m_duration = evapi_series_get(
		evapi_gauge_new(r->ctx, "evapi_ready_check_duration_seconds",
				"How long the last readiness check took, "
				"waiting for a connection included.",
				NULL),
		NULL);
	checks = evapi_counter_new(r->ctx, "evapi_ready_checks_total",
				   "Readiness checks, by result (as /ready "
				   "names it).",
				   result);
	if (r->m_success == NULL || r->m_duration == NULL || checks == NULL ||
	    (r->m_checks[0] = evapi_series_get(checks, "ok", NULL)) == NULL)
		return EVAPI_ERR;
	for (i = 0; i < r->nreasons; i++)
		if ((r->m_checks[i + 1] =
			     evapi_series_get(checks, r->reasons[i], NULL)) ==
		    NULL)
			return EVAPI_ERR;
	return EVAPI_OK;
}

static void ready_fini(void *state);

static int
ready_init(evapi_ctx *ctx, void **state)
{
	struct ready *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return EVAPI_ERR;
	pthread_mutex_init(&r->mu, NULL);
	r->ctx = ctx;
	r->main_loop = evapi_main_loop(ctx);
	r->cache_ms = (unsigned)evapi_setting_int(ctx, "READY_CACHE_MS");
	r->timeout_ms = (unsigned)evapi_setting_int(ctx, "READY_TIMEOUT_MS");
	if (evapi_pg_init(ctx) != EVAPI_OK ||
	    (r->select1 = evapi_pg_prepare(ctx, "SELECT 1")) == NULL ||
	    build_bodies(r) != EVAPI_OK || register_metrics(r) != EVAPI_OK)
		goto fail;
	/* A first check shortly after start: the state is logged at start
	 * and the first probe is usually answered from the cache. Not at
	 * once: the pool's connections are being made. A /ready that comes
	 * earlier starts the check itself. */
	r->first = evapi_timer_new(r->main_loop, first_check, r);
	if (r->first == NULL ||
	    evapi_timer_start(r->first, FIRST_CHECK_MS, 0) != EVAPI_OK)
		goto fail;
	*state = r;
	return EVAPI_OK;
fail:
	ready_fini(r);
	return EVAPI_ERR;
}

static void
ready_fini(void *state)
{
	struct ready *r = state;
	struct waiter *w;

	if (r == NULL)
		return;
	evapi_timer_free(r->first);
	/* Every loop has stopped. A waiter already handed to its loop has
	 * its answer queued there: it is orphaned (it no longer points at
	 * this state) and answers when the host turns that loop once more.
	 * The others are answered here, on the main thread. */
	pthread_mutex_lock(&r->mu);
	while ((w = r->waiters) != NULL) {
		waiter_unlink(r, w);
		if (w->handed) {
			w->r = NULL;
			continue;
		}
		evapi_respond_body(w->req, 503, r->body_draining);
		free(w);
	}
	pthread_mutex_unlock(&r->mu);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

static const char *const ready_needs[] = {"pg", NULL};

static const struct evapi_route ready_routes[] = {
	{EVAPI_GET, "/ready", ready_get, EVAPI_ROUTE_PROBE},
	EVAPI_ROUTES_END,
};

EVAPI_PLUGIN(ready) = {
	EVAPI_PLUGIN_HEADER,
	.name = "ready",
	.version = "2.1.0",
	.description = "readiness: GET /ready checks PostgreSQL without "
		       "blocking; 503 while draining",
	.routes = ready_routes,
	.settings = ready_settings,
	.needs = ready_needs,
	.init = ready_init,
	.fini = ready_fini,
};
