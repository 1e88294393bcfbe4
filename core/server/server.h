/*
 * server.h - the running server: listening sockets (listen.c), one event
 * loop per worker thread (worker.c), signals and the drain (drain.c), and
 * the order of it all (server.c).
 */
#ifndef EVAPI_SERVER_SERVER_H
#define EVAPI_SERVER_SERVER_H

#include <pthread.h>

#include <event2/util.h>

#include "config/conf.h"
#include "plugin/host.h"
#include "loop/loop.h"
#include "server/activation.h"
#include "server/notify.h"

struct evhttp;
struct evhttp_bound_socket;
struct event;
struct evapi_site;
struct evapi_limit;

/* One event loop, its thread, and its site on the main port. */
struct evapi_worker {
	unsigned id;
	struct evapi_server *srv;
	struct evapi_loop loop;
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
	struct evapi_site *site;
	evutil_socket_t fd;
	struct event *drain_ev; /* the drain reached this loop */
	int closing;            /* its listeners are closed */
	int closing_listeners;  /* ... are being closed (the accept grace) */
	int sites_open;         /* listeners of this loop not closed yet */
	pthread_t thread;
	int thread_started;
};

/* PROBE_PORT: a second evhttp on loop 0. */
struct evapi_probe {
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
	struct evapi_site *site;
	struct evapi_limit *limit;
	evutil_socket_t fd;
};

struct evapi_server {
	struct evapi_config cfg;
	struct evapi_host host;
	struct evapi_worker *workers;
	unsigned nworkers;
	struct evapi_loop **loops;
	struct evapi_limit *limit;
	struct evapi_probe probe;
	volatile int draining;
	struct evapi_notify notify;  /* NOTIFY_SOCKET (notify.c) */
	struct evapi_activation act; /* LISTEN_FDS (activation.c) */
	unsigned long served_direct, served_early, served_evhttp;
	int loops_ran; /* serving started: teardown turns the loops */
};

enum evapi_run_mode {
	EVAPI_RUN_SERVE,   /* until drained */
	EVAPI_RUN_CHECK,   /* stop once the plugins started, binding nothing */
	EVAPI_RUN_MIGRATE  /* the same, then apply the plugins' migrations */
};

/* 0, EVAPI_EXIT_CONFIG, EVAPI_ERR, or (migrate) the migration's status. */
int evapi_server_run(struct evapi_server *srv, enum evapi_run_mode mode);

/* listen.c: bind every listening socket (exits 78 naming PORT or
 * PROBE_PORT when it cannot). */
void evapi_listen_open(struct evapi_server *srv);
/* ... and give them to evhttp. */
int evapi_listen_attach(struct evapi_server *srv);
/* Take the sockets the service manager passed, before the loops are set
 * up (exits 78 when they do not fit); release them at the very end. */
void evapi_listen_inherit(struct evapi_server *srv);
void evapi_listen_release(struct evapi_server *srv);

/* worker.c */
int evapi_workers_setup(struct evapi_server *srv);
int evapi_workers_start(struct evapi_server *srv);
void evapi_workers_teardown(struct evapi_server *srv);
/* A loop may end when its listeners are closed and no request of its
 * sites waits for an answer. */
void evapi_worker_maybe_finish(struct evapi_worker *w);
/* Run W's loop until the drain ends it. */
void evapi_worker_run(struct evapi_worker *w);

/* drain.c */
int evapi_drain_setup(struct evapi_server *srv);
void evapi_drain_free(void);


#endif
