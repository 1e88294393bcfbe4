/*
 * ready - readiness: GET /ready answers 200 when PostgreSQL answers
 * "SELECT 1", 503 when it does not, and 503 {"status":"draining"} once the
 * server drains, so a load balancer stops sending traffic before exit.
 *
 * The check never blocks a loop (pgcheck.c: libpq's asynchronous API and
 * evdns on the main loop, under READY_TIMEOUT_MS). Requests from every loop
 * coalesce onto the one check in flight, and its result is reused for
 * READY_CACHE_MS, so a burst of probes costs the database at most one
 * query per cache period.
 *
 * Threads: the handler runs on the loop that accepted the connection. A
 * request that needs a fresh check is queued (under the mutex) and the
 * check is started on the main loop with event_active; when it ends, each
 * queued request is handed back to its own loop with event_base_once and
 * answered there. Every response body is built once at init.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include <evapi/plugin.h>

#include "pgcheck.h"

#define READY_TIMEOUT_DEFAULT 500
#define READY_CACHE_DEFAULT 1000

/* The first check runs this long after start (see ready_init). */
static const struct timeval first_check_delay = {0, 50 * 1000};

/* One request waiting for the check in flight. */
struct waiter {
	struct ready *r;		/* NULL once orphaned by fini */
	const struct evapi_api *api;
	struct evhttp_request *req;
	struct event_base *base; /* the request's own loop */
	int handed;		 /* scheduled on BASE with its answer */
	int status;
	const evapi_body *body;
	struct waiter *prev, *next;
};

struct ready {
	const struct evapi_api *api;
	evapi_host *host;
	struct event_base *main_base;
	struct pgcheck *pc;
	struct event *start_ev; /* runs a check on the main loop */
	struct event *first_ev; /* the first check, unless a probe came first */
	unsigned cache_ms;

	const evapi_body *body_ok;
	const evapi_body *body_draining;
	const evapi_body *body_fail[PGCHECK_NREASONS];

	/* Main loop only. */
	int have_state;		   /* a check has finished before */
	enum pgcheck_reason state; /* its result, for change logs */

	/* Shared by every loop; guarded by MU. */
	pthread_mutex_t mu;
	int in_flight;
	int have_result;
	uint64_t valid_until; /* monotonic ms */
	int status;
	const evapi_body *body;
	struct waiter *waiters; /* doubly linked, both pending and handed */
};

static const struct evapi_var ready_vars[] = {
	{"DATABASE_URL", NULL,
	 "PostgreSQL connection string checked by /ready (required): "
	 "postgresql://user:password@host:port/db?sslmode=... or key=value "
	 "pairs"},
	{"READY_TIMEOUT_MS", "500",
	 "deadline of one database check, connection included (10-60000)"},
	{"READY_CACHE_MS", "1000",
	 "how long a check result answers /ready before the next check "
	 "(0-3600000)"},
	{NULL, NULL, NULL},
};

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
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
waiter_deliver(evutil_socket_t fd, short what, void *arg)
{
	struct waiter *w = arg;
	struct ready *r = w->r;

	(void)fd;
	(void)what;
	/* An orphan was handed over before fini freed the plugin state; it
	 * carries all it needs (the bodies belong to the host). */
	if (r != NULL) {
		pthread_mutex_lock(&r->mu);
		waiter_unlink(r, w);
		pthread_mutex_unlock(&r->mu);
	}
	w->api->reply(w->req, w->status, w->body);
	free(w);
}

/* The draining or cached answer, without a request (the host's fast path
 * and ready_get both use it); NULL when a database check is due. */
static const evapi_body *
ready_answer(void *arg, int *status)
{
	struct ready *r = arg;
	const evapi_body *body = NULL;

	/* Draining wins over any database state: stop the traffic first. */
	if (r->api->draining(r->host)) {
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

/* Start a check unless one runs, adding W to the requests waiting for it
 * in the same step; any thread. W NULL is the start-up check: skipped when
 * a probe already brought a result. */
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
	/* Thread-safe: wakes the main loop if it sleeps. */
	if (start)
		event_active(r->start_ev, EV_TIMEOUT, 1);
}

static void
ready_get(struct evhttp_request *req, void *arg)
{
	struct ready *r = arg;
	const evapi_body *body;
	struct event_base *base;
	struct waiter *w;
	int status;

	body = ready_answer(r, &status);
	if (body != NULL) {
		r->api->reply(req, status, body);
		return;
	}

	/* Read the loop now: the request may lose its connection later. */
	base = r->api->request_base(req);
	w = calloc(1, sizeof(*w));
	if (w == NULL || base == NULL) {
		free(w);
		r->api->reply(req, 503, r->body_fail[PGCHECK_INTERNAL]);
		return;
	}
	w->r = r;
	w->api = r->api;
	w->req = req;
	w->base = base;
	start_check(r, w);
}

/* --- the main loop's side ------------------------------------------------- */

static void
ready_start(evutil_socket_t fd, short what, void *arg)
{
	struct ready *r = arg;

	(void)fd;
	(void)what;
	evapi_pgcheck_run(r->pc);
}

static void
first_check(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	start_check(arg, NULL);
}

static void
log_transition(struct ready *r, enum pgcheck_reason reason, const char *detail)
{
	const char *why = evapi_pgcheck_reason_str(reason);

	if (reason == PGCHECK_OK) {
		if (!r->have_state)
			r->api->log(r->host, EVAPI_LOG_INFO, "database ready",
				    NULL);
		else if (r->state != PGCHECK_OK)
			r->api->log(r->host, EVAPI_LOG_INFO,
				    "database ready again", NULL);
		return;
	}
	if (!r->have_state || r->state != reason)
		r->api->log(r->host, EVAPI_LOG_WARN, "database unavailable",
			    "reason", why, "detail", detail, NULL);
	else
		r->api->log(r->host, EVAPI_LOG_DEBUG, "database unavailable",
			    "reason", why, "detail", detail, NULL);
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

	pthread_mutex_lock(&r->mu);
	r->have_result = 1;
	r->valid_until = mono_ms() + r->cache_ms;
	r->status = status;
	r->body = body;
	r->in_flight = 0;
	/* Hand every waiting request to its own loop. Holding the mutex is
	 * fine: waiter_deliver takes it only once we let go, and no loop
	 * takes the mutex while holding a base lock. */
	for (w = r->waiters; w != NULL; w = w->next) {
		if (w->handed)
			continue;
		w->status = status;
		w->body = body;
		if (event_base_once(w->base, -1, EV_TIMEOUT, waiter_deliver, w,
				    NULL) == 0)
			w->handed = 1;
		else
			r->api->log(r->host, EVAPI_LOG_ERROR,
				    "cannot hand a /ready answer to its loop; "
				    "it is answered at shutdown",
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
	r->api->log(r->host, EVAPI_LOG_WARN, "database connection lost",
		    "detail", detail, NULL);
	pthread_mutex_lock(&r->mu);
	r->valid_until = 0;
	pthread_mutex_unlock(&r->mu);
}

static void
ready_log(void *arg, int level, const char *msg, const char *key,
	  const char *value)
{
	struct ready *r = arg;

	r->api->log(r->host, level, msg, key, value, NULL);
}

/* --- init and fini -------------------------------------------------------- */

static int
build_bodies(struct ready *r)
{
	char json[160];
	int i;

	r->body_ok = r->api->body_json(
		r->host,
		"{\"status\":\"ok\",\"checks\":{\"database\":\"ok\"}}");
	r->body_draining =
		r->api->body_json(r->host, "{\"status\":\"draining\"}");
	if (!r->body_ok || !r->body_draining)
		return EVAPI_ERR;
	for (i = 1; i < PGCHECK_NREASONS; i++) {
		/* The reasons are fixed lowercase words: no escaping. */
		snprintf(json, sizeof(json),
			 "{\"status\":\"unavailable\",\"checks\":"
			 "{\"database\":\"%s\"}}",
			 evapi_pgcheck_reason_str((enum pgcheck_reason)i));
		r->body_fail[i] = r->api->body_json(r->host, json);
		if (!r->body_fail[i])
			return EVAPI_ERR;
	}
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
ready_init(const struct evapi_api *api, evapi_host *host, void **state)
{
	static const struct pgcheck_hooks hooks = {
		.done = ready_done, .lost = ready_lost, .log = ready_log};
	unsigned long timeout_ms, cache_ms;
	char err[160], redacted[512], allowed[256];
	const char *url;
	struct ready *r;

	url = api->env(host, "DATABASE_URL");
	if (url == NULL || blank(url)) {
		if (url)
			api->redact(url, redacted, sizeof(redacted));
		api->config_error(host, "DATABASE_URL", url ? redacted : NULL,
				  "a PostgreSQL connection string, e.g. "
				  "postgresql://user:password@host:5432/db "
				  "(required by the ready plugin)");
		return EVAPI_ERR;
	}
	if (api->env_uint(host, "READY_TIMEOUT_MS", READY_TIMEOUT_DEFAULT, 10,
			  60000, &timeout_ms) != EVAPI_OK ||
	    api->env_uint(host, "READY_CACHE_MS", READY_CACHE_DEFAULT, 0,
			  3600000, &cache_ms) != EVAPI_OK)
		return EVAPI_ERR;

	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return EVAPI_ERR;
	pthread_mutex_init(&r->mu, NULL);
	r->api = api;
	r->host = host;
	r->main_base = api->main_base(host);
	r->cache_ms = (unsigned)cache_ms;
	r->pc = evapi_pgcheck_new(r->main_base, url, (unsigned)timeout_ms,
				  &hooks, r, err, sizeof(err));
	if (r->pc == NULL) {
		api->redact(url, redacted, sizeof(redacted));
		snprintf(allowed, sizeof(allowed),
			 "a PostgreSQL connection string (%s)", err);
		api->config_error(host, "DATABASE_URL", redacted, allowed);
		goto fail;
	}
	r->start_ev = event_new(r->main_base, -1, 0, ready_start, r);
	if (r->start_ev == NULL || build_bodies(r) != EVAPI_OK)
		goto fail;
	if (api->route(host, EVAPI_METHOD_GET, "/ready", ready_get, r) !=
	    EVAPI_OK)
		goto fail;
	if (EVAPI_API_HAS(api, route_answer) &&
	    api->route_answer(host, "/ready", ready_answer, r) != EVAPI_OK)
		goto fail;

	{
		char t[16], c[16];

		/* From the parsed fields, not the string: no redaction rule
		 * to get wrong. */
		evapi_pgcheck_target(r->pc, redacted, sizeof(redacted));
		snprintf(t, sizeof(t), "%lu", timeout_ms);
		snprintf(c, sizeof(c), "%lu", cache_ms);
		api->log(host, EVAPI_LOG_INFO, "database check configured",
			 "database", redacted, "timeout_ms", t, "cache_ms", c,
			 NULL);
	}
	/* A first check shortly after start: the state is logged at start
	 * and the first probe is usually answered from the cache. Not at
	 * once: the connection's handshake (SCRAM is a few ms of CPU on loop
	 * 0) would delay the first answers the server gives. A /ready that
	 * comes earlier starts the check itself. */
	r->first_ev = evtimer_new(r->main_base, first_check, r);
	if (r->first_ev == NULL ||
	    evtimer_add(r->first_ev, &first_check_delay) != 0)
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
	if (r->start_ev)
		event_free(r->start_ev);
	if (r->first_ev)
		event_free(r->first_ev);
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
		r->api->reply(w->req, 503, r->body_draining);
		free(w);
	}
	pthread_mutex_unlock(&r->mu);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

EVAPI_PLUGIN(ready) = {
	EVAPI_PLUGIN_HEADER,
	.name = "ready",
	.version = "1.0.0",
	.description = "readiness: GET /ready checks PostgreSQL without "
		       "blocking; 503 while draining",
	.vars = ready_vars,
	.init = ready_init,
	.fini = ready_fini,
};
