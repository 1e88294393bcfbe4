/*
 * worker.c - the workers: each owns one event loop, one evhttp and one
 * site on the main port; worker 0 runs on the main thread, receives the
 * signals, carries PROBE_PORT's site and is the plugins' main loop.
 */
#include "config.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/http.h>
#include <event2/thread.h>

#include "http/accept.h"
#include "http/conn.h"
#include "http/evhttp-glue.h"
#include "http/request.h"
#include "http/serve.h"
#include "server.h"
#include "watchdog.h"
#include "util/alloc.h"
#include "util/log.h"

/* The probe listener's own cap: probes open one connection at a time. */
#define PROBE_MAX_CONNECTIONS 64
/* Messages a connection's gate reads ahead of the request being served. */
#define MAX_PIPELINED 16

static unsigned workers_done; /* guarded by done_lock */
static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;

/* MAX_CONNECTIONS=auto: 1024, or fewer when RLIMIT_NOFILE leaves less
 * room next to the descriptors evapi itself needs (stdio, listeners, an
 * epoll and a notification pair per loop, plugins' database sockets). */
static unsigned long
resolve_max_connections(const struct evapi_server *srv)
{
	unsigned long reserve = 16 + 5 * (unsigned long)srv->nworkers;
	unsigned long room = 1024;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		room = rl.rlim_cur > reserve + 8 ? rl.rlim_cur - reserve : 8;
	if (srv->cfg.max_connections == 0)
		return room < 1024 ? room : 1024;
	if (srv->cfg.max_connections > room)
		evapi_core_log(EVAPI_LOG_WARN,
			       "MAX_CONNECTIONS is above what RLIMIT_NOFILE "
			       "leaves; accept() will pause when descriptors "
			       "run out",
			       NULL);
	return srv->cfg.max_connections;
}

/* epoll with a changelist: reading and writing turn off and on around
 * every response; the changelist folds each pair into one epoll_ctl per
 * loop turn instead of one per change. A dup()ed socket is the one case
 * the changelist gets wrong; evapi dup()s only an inherited socket. */
static struct event_base *
new_base(const struct evapi_server *srv)
{
	struct event_config *cfg = event_config_new();
	struct event_base *base;

	if (cfg == NULL)
		return NULL;
	/* The manager keeps the inherited socket open: a deletion still in
	 * the changelist when evhttp closes a duplicate would leave it in
	 * the epoll set, ready for ever once connections queue. */
	if (srv->act.main_fd < 0)
		event_config_set_flag(cfg,
				      EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	return base;
}

static void on_site_idle(void *arg);

static struct evapi_site *
new_site(struct evapi_server *srv, struct evapi_worker *w, struct evhttp *http,
	 const char *name, struct evapi_limit *limit, int probes_only)
{
	const struct evapi_config *cfg = &srv->cfg;
	struct evapi_glue_limits gl = {cfg->max_header_size, cfg->max_body_size,
				       cfg->idle_timeout};
	struct evapi_site *s;

	s = evapi_site_new(w->loop.base, http, name, limit, cfg->header_timeout);
	if (s == NULL)
		return NULL;
	s->probes_only = probes_only;
	s->stats = evapi_stats_loop(w->id);
	s->listener = probes_only ? EVAPI_LISTENER_PROBE : EVAPI_LISTENER_MAIN;
	s->idle_ms = (uint64_t)cfg->idle_timeout * 1000;
	s->loop_index = w->id;
	s->loop = &w->loop;
	s->router = &srv->host.router;
	s->glim.max_head = cfg->max_header_size;
	s->glim.max_body = cfg->max_body_size;
	s->glim.max_fields = 256;
	s->glim.max_queued = MAX_PIPELINED;
	s->idle_cb = on_site_idle;
	s->idle_arg = w;
	evapi_glue_configure(s, &gl);
	return s;
}

static void on_drain(evutil_socket_t fd, short what, void *arg);

static int
setup_one(struct evapi_server *srv, struct evapi_worker *w)
{
	w->srv = srv;
	w->loop.base = new_base(srv);
	w->loop.index = w->id;
	if (w->loop.base == NULL)
		return EVAPI_ERR;
	w->http = evhttp_new(w->loop.base);
	if (w->http == NULL)
		return EVAPI_ERR;
	w->site = new_site(srv, w, w->http, "main", srv->limit, 0);
	w->drain_ev = event_new(w->loop.base, -1, 0, on_drain, w);
	if (w->site == NULL || w->drain_ev == NULL)
		return EVAPI_ERR;
	srv->loops[w->id] = &w->loop;
	return EVAPI_OK;
}

static int
setup_probe(struct evapi_server *srv)
{
	struct evapi_worker *w0 = &srv->workers[0];

	if (srv->cfg.probe_port == 0)
		return EVAPI_OK;
	srv->probe.limit = evapi_limit_new(PROBE_MAX_CONNECTIONS);
	srv->probe.http = evhttp_new(w0->loop.base);
	if (srv->probe.limit == NULL || srv->probe.http == NULL)
		return EVAPI_ERR;
	srv->probe.site = new_site(srv, w0, srv->probe.http, "probe",
				   srv->probe.limit, 1);
	return srv->probe.site != NULL ? EVAPI_OK : EVAPI_ERR;
}

int
evapi_workers_setup(struct evapi_server *srv)
{
	unsigned i;

	srv->cfg.max_connections = resolve_max_connections(srv);
	srv->limit = evapi_limit_new(srv->cfg.max_connections);
	srv->loops = calloc(srv->nworkers, sizeof(*srv->loops));
	if (srv->limit == NULL || srv->loops == NULL)
		return EVAPI_ERR;
	for (i = 0; i < srv->nworkers; i++) {
		srv->workers[i].id = i;
		if (setup_one(srv, &srv->workers[i]) != EVAPI_OK)
			return EVAPI_ERR;
	}
	evapi_loops_set(srv->loops, srv->nworkers);
	return setup_probe(srv);
}

/* ---- finishing ----------------------------------------------------------- */

static int
sites_idle(const struct evapi_worker *w)
{
	if (w->site->inflight > 0)
		return 0;
	return w->id != 0 || w->srv->probe.site == NULL ||
	       w->srv->probe.site->inflight == 0;
}

static void
finish_loop(struct evapi_worker *w)
{
	struct timeval flush = {0, 50000};

	/* The last answers are queued, not yet written: give the loop a
	 * moment to write them before it ends. */
	event_base_loopexit(w->loop.base, &flush);
}

void
evapi_worker_maybe_finish(struct evapi_worker *w)
{
	struct evapi_server *srv = w->srv;
	unsigned done;

	if (!w->closing || !sites_idle(w))
		return;
	if (w->id != 0) {
		finish_loop(w);
		return;
	}
	/* Loop 0 carries the plugins' background work (a check other loops
	 * may be waiting for): it ends last. */
	pthread_mutex_lock(&done_lock);
	done = workers_done;
	pthread_mutex_unlock(&done_lock);
	if (done + 1 >= srv->nworkers)
		finish_loop(w);
}

static void
on_site_idle(void *arg)
{
	evapi_worker_maybe_finish(arg);
}

static void
site_closed(struct evapi_site *s)
{
	struct evapi_worker *w = s->idle_arg;
	struct evapi_server *srv = w->srv;

	if (s == w->site) {
		evhttp_del_accept_socket(w->http, w->bound);
		w->bound = NULL;
	} else if (s == srv->probe.site) {
		evhttp_del_accept_socket(srv->probe.http, srv->probe.bound);
		srv->probe.bound = NULL;
	}
	evapi_glue_listener(s, NULL);
	if (--w->sites_open <= 0) {
		w->closing = 1;
		evapi_worker_maybe_finish(w);
	}
}

/* How long handshakes already under way get once SYNs are dropped. */
#define ACCEPT_GRACE_MS 100

static void
on_drain(evutil_socket_t fd, short what, void *arg)
{
	struct evapi_worker *w = arg;
	struct evapi_server *srv = w->srv;

	(void)fd;
	(void)what;
	if (w->closing) {
		evapi_worker_maybe_finish(w);
		return;
	}
	if (w->sites_open == 0) {
		w->closing = 1;
		evapi_worker_maybe_finish(w);
		return;
	}
	/* Loop 0 is also woken by every other loop that ends: a second call
	 * while its listeners' grace runs would close them twice (and leave
	 * the second grace timer pending when the loop ends). */
	if (w->closing_listeners)
		return;
	w->closing_listeners = 1;
	if (w->bound != NULL)
		evapi_accept_close(w->site, ACCEPT_GRACE_MS, site_closed);
	if (w->id == 0 && srv->probe.bound != NULL)
		evapi_accept_close(srv->probe.site, ACCEPT_GRACE_MS,
				   site_closed);
}

/* ---- threads --------------------------------------------------------------- */

/* Run W's loop until the drain ends it (finish_loop) or the deadline
 * breaks it. Not until it runs out of events: a loop whose listener waits
 * for room under MAX_CONNECTIONS, with no connection of its own, has none
 * for a while, and must still be there to accept when room comes back
 * (and to close its listener at the drain). */
void
evapi_worker_run(struct evapi_worker *w)
{
	event_base_loop(w->loop.base, EVLOOP_NO_EXIT_ON_EMPTY);
}

static void *
worker_main(void *arg)
{
	struct evapi_worker *w = arg;
	struct evapi_worker *w0 = &w->srv->workers[0];

	evapi_loop_enter(&w->loop);
	evapi_worker_run(w);
	w->loop.stopped = 1;
	evapi_request_pool_flush();
	evapi_alloc_flush();
	pthread_mutex_lock(&done_lock);
	workers_done++;
	pthread_mutex_unlock(&done_lock);
	/* Loop 0 may be waiting for us to end. */
	event_active(w0->drain_ev, EV_TIMEOUT, 0);
	return NULL;
}

int
evapi_workers_start(struct evapi_server *srv)
{
	sigset_t block, old;
	unsigned i;
	int rc = EVAPI_OK;

	/* Signals belong to loop 0 on the main thread. */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	for (i = 1; i < srv->nworkers; i++) {
		struct evapi_worker *w = &srv->workers[i];

		if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
			rc = EVAPI_ERR;
			break;
		}
		w->thread_started = 1;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

/* Loops that never ran (--check-config, --migrate, a failed start) are
 * not turned: a plugin's timer set in init must not fire then. */
static void
turn_loops(struct evapi_server *srv)
{
	unsigned i;

	if (!srv->loops_ran)
		return;
	for (i = 0; i < srv->nworkers; i++)
		if (srv->workers[i].loop.base != NULL)
			event_base_loop(srv->workers[i].loop.base,
					EVLOOP_NONBLOCK);
}

static void
free_probe(struct evapi_server *srv)
{
	struct evapi_probe *p = &srv->probe;

	if (p->site != NULL) {
		srv->served_direct += p->site->served_direct;
		srv->served_early += p->site->served_early;
		srv->served_evhttp += p->site->served_evhttp;
		evapi_glue_forget(p->site);
	}
	if (p->http != NULL)
		evhttp_free(p->http);
	evapi_site_free(p->site);
	evapi_limit_free(p->limit);
	if (p->fd >= 0)
		close(p->fd);
	memset(p, 0, sizeof(*p));
	p->fd = -1;
}

static void
free_worker(struct evapi_server *srv, struct evapi_worker *w)
{
	if (w->drain_ev)
		event_free(w->drain_ev);
	if (w->site != NULL) {
		srv->served_direct += w->site->served_direct;
		srv->served_early += w->site->served_early;
		srv->served_evhttp += w->site->served_evhttp;
		evapi_glue_forget(w->site);
	}
	/* evhttp frees its connections first: the site drops its hold on
	 * them only after. */
	if (w->http)
		evhttp_free(w->http);
	evapi_site_free(w->site);
	if (w->fd >= 0)
		close(w->fd);
	evapi_loop_cleanup(&w->loop);
	if (w->loop.base)
		event_base_free(w->loop.base);
}

void
evapi_workers_teardown(struct evapi_server *srv)
{
	unsigned i;

	for (i = 0; i < srv->nworkers; i++)
		if (srv->workers[i].thread_started)
			pthread_join(srv->workers[i].thread, NULL);
	/* From here no handler runs. One non-blocking turn of each loop
	 * delivers answers plugins already queued there; what a handler
	 * still holds past SHUTDOWN_TIMEOUT is then lost (its gone callback
	 * runs while the plugin is loaded), fini runs, and one more turn
	 * writes what fini sent before the connections are freed. */
	evapi_http_stopped = 1;
	for (i = 0; i < srv->nworkers; i++)
		srv->workers[i].loop.stopped = 1;
	turn_loops(srv);
	if (srv->probe.site != NULL)
		evapi_site_abandon(srv->probe.site);
	for (i = 0; i < srv->nworkers; i++)
		evapi_site_abandon(srv->workers[i].site);
	evapi_host_fini(&srv->host);
	turn_loops(srv);
	evapi_drain_free();
	evapi_watchdog_free();
	free_probe(srv);
	for (i = 0; i < srv->nworkers; i++)
		free_worker(srv, &srv->workers[i]);
	evapi_limit_free(srv->limit);
	srv->limit = NULL;
	free(srv->loops);
	srv->loops = NULL;
	free(srv->workers);
	srv->workers = NULL;
}
