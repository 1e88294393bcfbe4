/*
 * server.c - the order of things: the event loops and their sites, the
 * plugins (before anything binds: --check-config runs the very same
 * steps, and a bad setting never leaves a port open), the listeners, the
 * loops, and the teardown.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "http/dispatch.h"
#include "http/reqid.h"
#include "http/respond.h"
#include "http/serve.h"
#include "server.h"
#include "stats/stats.h"
#include "watchdog.h"
#include "util/log.h"

#include "build-info.h"

static void
log_start(struct evapi_server *srv)
{
	char addr[128], workers[16], maxconn[24], probe[8];

	snprintf(addr, sizeof(addr),
		 strchr(srv->cfg.bind_address, ':') ? "[%s]:%u" : "%s:%u",
		 srv->cfg.bind_address, srv->cfg.port);
	snprintf(workers, sizeof(workers), "%u", srv->nworkers);
	snprintf(maxconn, sizeof(maxconn), "%lu", srv->cfg.max_connections);
	snprintf(probe, sizeof(probe), "%u", srv->cfg.probe_port);
	evapi_core_log(EVAPI_LOG_INFO, "evapi started", "version",
		       evapi_build_version, "commit", evapi_build_commit,
		       "environment", srv->cfg.environment, "plugins",
		       srv->host.active, "address", addr, "workers", workers,
		       "build", evapi_plugin_mode, "max_connections", maxconn,
		       "probe_port", srv->cfg.probe_port ? probe : "none",
		       NULL);
}

static void
log_stop(const struct evapi_server *srv)
{
	char direct[24], early[24], ev[24];

	snprintf(direct, sizeof(direct), "%lu", srv->served_direct);
	snprintf(early, sizeof(early), "%lu", srv->served_early);
	snprintf(ev, sizeof(ev), "%lu", srv->served_evhttp);
	/* Which path the traffic took: read by evapi itself, answered as the
	 * connection was accepted, or read by evhttp (bodies over several
	 * reads, chunked). */
	evapi_core_log(EVAPI_LOG_INFO, "stopped", "requests_direct", direct,
		       "requests_at_accept", early, "requests_evhttp", ev,
		       NULL);
}

/* Listening, plugins started, loops about to run: the service manager
 * may start what depends on evapi. */
static void
notify_ready(const struct evapi_server *srv)
{
	char msg[256];

	snprintf(msg, sizeof(msg),
		 strchr(srv->cfg.bind_address, ':')
			 ? "READY=1\nSTATUS=serving on [%s]:%u, %u workers%s"
			 : "READY=1\nSTATUS=serving on %s:%u, %u workers%s",
		 srv->cfg.bind_address, srv->cfg.port, srv->nworkers,
		 srv->act.main_fd >= 0 ? " (socket from the service manager)"
				       : "");
	evapi_notify_send(&srv->notify, msg);
}

/* The counters name a route by its pattern; they know no router. */
static const char *
route_label(const void *router, unsigned route, unsigned m)
{
	return evapi_router_label(router, route, m);
}

static int
setup(struct evapi_server *srv)
{
	unsigned i;

	srv->workers = calloc(srv->nworkers, sizeof(*srv->workers));
	if (srv->workers == NULL)
		return EVAPI_ERR;
	srv->probe.fd = -1;
	for (i = 0; i < srv->nworkers; i++)
		srv->workers[i].fd = -1;
	/* The counters before the sites that count in them, and the core's
	 * metrics registered before any plugin's. */
	if (evapi_stats_setup(srv->nworkers) != EVAPI_OK ||
	    evapi_stats_register_core(srv->cfg.probe_port != 0) != EVAPI_OK ||
	    evapi_workers_setup(srv) != EVAPI_OK ||
	    evapi_drain_setup(srv) != EVAPI_OK)
		return EVAPI_ERR;
	evapi_http_access_log = srv->cfg.access_log;
	evapi_http_access_probes = srv->cfg.access_log_probes;
	return EVAPI_OK;
}

int
evapi_server_run(struct evapi_server *srv, enum evapi_run_mode mode)
{
	int check_only = mode != EVAPI_RUN_SERVE;
	unsigned i;
	int rc = EVAPI_ERR;

	signal(SIGPIPE, SIG_IGN);
	evthread_use_pthreads();
	evapi_reqid_init();
	srv->notify.fd = srv->act.main_fd = srv->act.probe_fd = -1;
	if (!check_only) {
		evapi_listen_inherit(srv);
		evapi_notify_open(&srv->notify);
	}
	if (setup(srv) != EVAPI_OK || evapi_watchdog_start(srv) != EVAPI_OK) {
		evapi_err("cannot set up the event loops");
		goto out;
	}
	/* init only registers events; no loop runs yet. */
	if (evapi_host_open(&srv->host, &srv->cfg) != EVAPI_OK ||
	    evapi_host_init(&srv->host, &srv->workers[0].loop) != EVAPI_OK) {
		rc = EVAPI_EXIT_CONFIG;
		goto out;
	}
	if (mode == EVAPI_RUN_MIGRATE) {
		rc = evapi_host_migrate(&srv->host);
		goto out;
	}
	if (evapi_stats_routes((unsigned)srv->host.router.npaths, route_label,
			       &srv->host.router) != EVAPI_OK) {
		evapi_err("cannot set up the request counters");
		goto out;
	}
	if (check_only) {
		rc = EVAPI_OK;
		goto out;
	}
	evapi_listen_open(srv);
	if (evapi_listen_attach(srv) != EVAPI_OK) {
		evapi_err("cannot attach the listening sockets");
		goto out;
	}
	log_start(srv);
	srv->loops_ran = 1;
	if (evapi_workers_start(srv) != EVAPI_OK) {
		evapi_err("cannot start worker threads");
		goto out;
	}
	notify_ready(srv);
	evapi_loop_enter(&srv->workers[0].loop);
	evapi_worker_run(&srv->workers[0]);
	evapi_loop_enter(NULL);
	evapi_workers_teardown(srv);
	log_stop(srv);
	evapi_notify_status(&srv->notify, "stopped");
	rc = EVAPI_OK;
out:
	/* loopexit, not loopbreak: a thread that has not entered its loop yet
	 * would clear a break flag on entry and never return. */
	for (i = 1; srv->workers && i < srv->nworkers; i++)
		if (srv->workers[i].thread_started && rc != EVAPI_OK)
			event_base_loopexit(srv->workers[i].loop.base, NULL);
	if (srv->workers)
		evapi_workers_teardown(srv);
	evapi_bodies_free();
	evapi_stats_free();
	evapi_listen_release(srv);
	evapi_notify_close(&srv->notify);
	return rc;
}
