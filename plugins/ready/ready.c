/*
 * ready - readiness: GET /ready answers 200 when PostgreSQL answers
 * "SELECT 1", 503 when it does not, and 503 {"status":"draining"} once the
 * server drains, so a load balancer stops sending traffic before exit.
 *
 * The check never blocks a loop (pgcheck.c, on the main loop, under
 * READY_TIMEOUT_MS). Requests from every loop coalesce onto the one check
 * in flight, and its result answers for READY_CACHE_MS, so a burst of
 * probes costs the database at most one query per cache period.
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

#include <evapi/plugin.h>

#include "pgcheck.h"
#include "redact.h"

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

struct ready {
	evapi_ctx *ctx;
	evapi_loop *main_loop;
	struct pgcheck *pc;
	evapi_timer *first; /* the first check, unless a probe came first */
	unsigned cache_ms;

	const evapi_body *body_ok;
	const evapi_body *body_draining;
	const evapi_body *body_fail[PGCHECK_NREASONS];

	/* Main loop only. */
	int have_state;            /* a check has finished before */
	enum pgcheck_reason state; /* its result, for change logs */
	uint64_t check_start_us;   /* the check in flight began */

	/* Metrics: the last check's result (1 ok, 0 not) and duration. */
	evapi_series *m_success, *m_duration;
	evapi_series *m_checks[PGCHECK_NREASONS]; /* by result */

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
	{"DATABASE_URL", EVAPI_SETTING_SECRET, NULL, 1, 4096, NULL,
	 "PostgreSQL connection string checked by /ready: "
	 "postgresql://user:password@host:port/db?sslmode=... or key=value "
	 "pairs; libpq's PG* variables fill in what it leaves out",
	 EVAPI_SETTING_REQUIRED},
	{"READY_TIMEOUT_MS", EVAPI_SETTING_INT, "500", 10, 60000, NULL,
	 "deadline of one database check, connection included, in "
	 "milliseconds", 0},
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
		evapi_respond_body(req, 503, r->body_fail[PGCHECK_INTERNAL]);
		return;
	}
	w->r = r;
	w->req = req;
	w->loop = evapi_request_loop(req);
	evapi_defer(req, waiter_gone, w);
	start_check(r, w);
}

/* ---- the main loop's side ------------------------------------------------------ */

static void
ready_start(void *arg)
{
	struct ready *r = arg;

	r->check_start_us = mono_us();
	evapi_pgcheck_run(r->pc);
}

static void
first_check(evapi_timer *t, void *arg)
{
	(void)t;
	start_check(arg, NULL);
}

static void
log_transition(struct ready *r, enum pgcheck_reason reason, const char *detail)
{
	const char *why = evapi_pgerr_reason_str(reason);

	if (reason == PGCHECK_OK) {
		if (!r->have_state)
			evapi_log(r->ctx, EVAPI_LOG_INFO, "database ready", NULL);
		else if (r->state != PGCHECK_OK)
			evapi_log(r->ctx, EVAPI_LOG_INFO, "database ready again",
				  NULL);
		return;
	}
	evapi_log(r->ctx,
		  !r->have_state || r->state != reason ? EVAPI_LOG_WARN
						       : EVAPI_LOG_DEBUG,
		  "database unavailable", "reason", why, "detail", detail,
		  NULL);
}

static void
ready_done(void *arg, enum pgcheck_reason reason, const char *detail)
{
	struct ready *r = arg;
	const evapi_body *body =
		reason == PGCHECK_OK ? r->body_ok : r->body_fail[reason];
	int status = reason == PGCHECK_OK ? 200 : 503;
	struct waiter *w;

	log_transition(r, reason, detail);
	r->have_state = 1;
	r->state = reason;
	evapi_gauge_set(r->m_success, reason == PGCHECK_OK);
	evapi_gauge_set(r->m_duration,
			(double)(mono_us() - r->check_start_us) / 1e6);
	evapi_counter_add(r->m_checks[reason], 1);

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

static void
ready_lost(void *arg, const char *detail)
{
	struct ready *r = arg;

	/* The idle connection broke: the cached "ok" is stale; the next
	 * /ready checks (and reconnects) at once. */
	evapi_log(r->ctx, EVAPI_LOG_WARN, "database connection lost", "detail",
		  detail, NULL);
	pthread_mutex_lock(&r->mu);
	r->valid_until = 0;
	pthread_mutex_unlock(&r->mu);
}

static void
ready_log(void *arg, int level, const char *msg, const char *key,
	  const char *value)
{
	struct ready *r = arg;

	evapi_log(r->ctx, level, msg, key, value, NULL);
}

/* ---- init and fini -------------------------------------------------------------- */

static int
build_bodies(struct ready *r)
{
	char json[160];
	int i;

	r->body_ok = evapi_body_json(
		r->ctx, "{\"status\":\"ok\",\"checks\":{\"database\":\"ok\"}}");
	r->body_draining = evapi_body_json(r->ctx, "{\"status\":\"draining\"}");
	if (!r->body_ok || !r->body_draining)
		return EVAPI_ERR;
	for (i = 1; i < PGCHECK_NREASONS; i++) {
		/* The reasons are fixed lowercase words: no escaping. */
		snprintf(json, sizeof(json),
			 "{\"status\":\"unavailable\",\"checks\":"
			 "{\"database\":\"%s\"}}",
			 evapi_pgerr_reason_str((enum pgcheck_reason)i));
		r->body_fail[i] = evapi_body_json(r->ctx, json);
		if (!r->body_fail[i])
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
	int i;

	r->m_success = evapi_series_get(
		evapi_gauge_new(r->ctx, "evapi_ready_check_success",
				"1 when the last readiness check reached the "
				"database, 0 when it did not.",
				NULL),
		NULL);
	r->m_duration = evapi_series_get(
		evapi_gauge_new(r->ctx, "evapi_ready_check_duration_seconds",
				"How long the last readiness check took, "
				"connection included.",
				NULL),
		NULL);
	checks = evapi_counter_new(r->ctx, "evapi_ready_checks_total",
				   "Readiness checks, by result (as /ready "
				   "names it).",
				   result);
	if (r->m_success == NULL || r->m_duration == NULL || checks == NULL)
		return EVAPI_ERR;
	for (i = 0; i < PGCHECK_NREASONS; i++)
		if ((r->m_checks[i] = evapi_series_get(
			     checks, evapi_pgerr_reason_str(
					     (enum pgcheck_reason)i),
			     NULL)) == NULL)
			return EVAPI_ERR;
	return EVAPI_OK;
}

static int
blank(const char *s)
{
	for (; *s; s++)
		if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
			return 0;
	return 1;
}

static void ready_fini(void *state);

static int
configure(struct ready *r, const char *url, unsigned long timeout_ms)
{
	static const struct pgcheck_hooks hooks = {
		.done = ready_done, .lost = ready_lost, .log = ready_log};
	char err[200], redacted[512], expected[300], t[16], c[16];

	if (blank(url)) {
		evapi_pg_redact(url, redacted, sizeof(redacted));
		evapi_config_error(r->ctx, "DATABASE_URL", redacted,
				   "a PostgreSQL connection string, e.g. "
				   "postgresql://user:password@host:5432/db");
		return EVAPI_ERR;
	}
	r->pc = evapi_pgcheck_new(r->main_loop, url, (unsigned)timeout_ms,
				  &hooks, r, err, sizeof(err));
	if (r->pc == NULL) {
		evapi_pg_redact(url, redacted, sizeof(redacted));
		snprintf(expected, sizeof(expected),
			 "a PostgreSQL connection string (%s)", err);
		evapi_config_error(r->ctx, "DATABASE_URL", redacted, expected);
		return EVAPI_ERR;
	}
	/* From the parsed fields, not the string: no redaction rule to get
	 * wrong. */
	evapi_pgcheck_target(r->pc, redacted, sizeof(redacted));
	snprintf(t, sizeof(t), "%lu", timeout_ms);
	snprintf(c, sizeof(c), "%u", r->cache_ms);
	evapi_log(r->ctx, EVAPI_LOG_INFO, "database check configured",
		  "database", redacted, "timeout_ms", t, "cache_ms", c, NULL);
	return EVAPI_OK;
}

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
	if (configure(r, evapi_setting_str(ctx, "DATABASE_URL"),
		      (unsigned long)evapi_setting_int(ctx, "READY_TIMEOUT_MS")) !=
		    EVAPI_OK ||
	    build_bodies(r) != EVAPI_OK || register_metrics(r) != EVAPI_OK)
		goto fail;
	/* A first check shortly after start: the state is logged at start
	 * and the first probe is usually answered from the cache. Not at
	 * once: the connection's handshake (SCRAM is a few ms of CPU on loop
	 * 0) would delay the first answers the server gives. A /ready that
	 * comes earlier starts the check itself. */
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
	evapi_pgcheck_free(r->pc);
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

static const struct evapi_route ready_routes[] = {
	{EVAPI_GET, "/ready", ready_get, EVAPI_ROUTE_PROBE},
	EVAPI_ROUTES_END,
};

EVAPI_PLUGIN(ready) = {
	EVAPI_PLUGIN_HEADER,
	.name = "ready",
	.version = "2.0.0",
	.description = "readiness: GET /ready checks PostgreSQL without "
		       "blocking; 503 while draining",
	.routes = ready_routes,
	.settings = ready_settings,
	.init = ready_init,
	.fini = ready_fini,
};
