/*
 * drain.c - signals and the drain.
 *
 * The first SIGTERM or SIGINT starts the drain: the server is marked
 * draining (plugins see it: /ready answers 503; every answer closes its
 * connection), keeps serving for DRAIN_DELAY seconds (so that a load
 * balancer takes it out of rotation), then stops accepting without
 * resetting queued connections (http/accept.c), and each loop ends when
 * none of its requests awaits an answer. SHUTDOWN_TIMEOUT bounds the whole
 * drain; a second signal ends the process at once (exit 128 + N).
 */
#include "config.h"

#include <signal.h>
#include <unistd.h>

#include <event2/event.h>

#include "http/conn.h"
#include "http/serve.h"
#include "server.h"
#include "util/log.h"

static struct event *sig_term, *sig_int, *drain_timer, *deadline_timer;
static int signals_seen;

static void
close_all_listeners(evutil_socket_t fd, short what, void *arg)
{
	struct evapi_server *srv = arg;
	unsigned i;

	(void)fd;
	(void)what;
	evapi_core_log(EVAPI_LOG_INFO, "closing listeners", NULL);
	evapi_notify_status(&srv->notify,
			    "closing listeners, finishing requests in flight");
	for (i = 0; i < srv->nworkers; i++)
		event_active(srv->workers[i].drain_ev, EV_TIMEOUT, 0);
}

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct evapi_server *srv = arg;
	unsigned long left = 0;
	unsigned i;

	(void)fd;
	(void)what;
	for (i = 0; i < srv->nworkers; i++)
		left += srv->workers[i].site->inflight;
	evapi_core_log(EVAPI_LOG_WARN, "shutdown timeout reached; abandoning "
		       "requests still in flight", "requests",
		       left ? "some" : "none", NULL);
	for (i = 0; i < srv->nworkers; i++)
		event_base_loopbreak(srv->workers[i].loop.base);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct evapi_server *srv = arg;
	struct timeval delay = {(time_t)srv->cfg.drain_delay, 0};
	struct timeval limit = {(time_t)srv->cfg.shutdown_timeout, 0};
	const char *name = sig == SIGTERM ? "SIGTERM" : "SIGINT";

	(void)what;
	if (signals_seen++ > 0) {
		evapi_core_log(EVAPI_LOG_WARN, "second signal: exiting now",
			       "signal", name, NULL);
		_exit(128 + (int)sig);
	}
	srv->draining = 1;
	evapi_http_draining = 1;
	evapi_core_log(EVAPI_LOG_INFO, "draining", "signal", name, NULL);
	evapi_notify_send(&srv->notify, sig == SIGTERM
						? "STOPPING=1\nSTATUS=draining "
						  "(SIGTERM)"
						: "STOPPING=1\nSTATUS=draining "
						  "(SIGINT)");
	evtimer_add(deadline_timer, &limit);
	evtimer_add(drain_timer, &delay);
}

int
evapi_drain_setup(struct evapi_server *srv)
{
	struct event_base *base = srv->workers[0].loop.base;

	sig_term = evsignal_new(base, SIGTERM, on_signal, srv);
	sig_int = evsignal_new(base, SIGINT, on_signal, srv);
	drain_timer = evtimer_new(base, close_all_listeners, srv);
	deadline_timer = evtimer_new(base, on_deadline, srv);
	if (!sig_term || !sig_int || !drain_timer || !deadline_timer)
		return EVAPI_ERR;
	if (evsignal_add(sig_term, NULL) != 0 || evsignal_add(sig_int, NULL) != 0)
		return EVAPI_ERR;
	return EVAPI_OK;
}

void
evapi_drain_free(void)
{
	struct event **evs[] = {&sig_term, &sig_int, &drain_timer,
				&deadline_timer};
	size_t i;

	for (i = 0; i < sizeof(evs) / sizeof(evs[0]); i++) {
		if (*evs[i] != NULL)
			event_free(*evs[i]);
		*evs[i] = NULL;
	}
}
