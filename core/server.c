/*
 * server.c - listeners, event loops, request dispatch, signals and drain.
 *
 * Each worker owns one event loop, one evhttp and one listening socket
 * (SO_REUSEPORT when there are several, so the kernel spreads connections
 * over the loops). Worker 0 runs on the main thread; it also receives the
 * signals and is the plugins' main_base.
 *
 * Drain: the first SIGTERM/SIGINT marks the server draining (plugins see it:
 * /ready answers 503), keeps serving for DRAIN_DELAY seconds, then closes
 * every listener; each loop ends when none of its requests awaits an
 * answer. SHUTDOWN_TIMEOUT bounds the whole drain; a second signal ends
 * the process at once.
 *
 * Hardening: every request passes reqcheck.c before a handler runs (a bad
 * one gets 400 and the connection closes); conns.c caps connections, puts
 * a deadline on request heads and backs off when accept() runs out of
 * descriptors; an optional PROBE_PORT listener on loop 0 serves only the
 * probe routes, outside the cap, so probes answer while the main port is
 * saturated.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/http.h>
#include <event2/http_struct.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/thread.h>

#include "conns.h"
#include "evapi-internal.h"
#include "fastpath.h"
#include "reqcheck.h"

/* The probe listener's own cap: probes open one connection at a time. */
#define PROBE_MAX_CONNECTIONS 64

struct evapi_worker {
	unsigned id;
	struct evapi_server *srv;
	struct event_base *base;
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
	struct evapi_conns *conns;
	evutil_socket_t fd;
	struct event *drain_ev;
	unsigned awaiting; /* requests whose answer is not yet sent */
	int closing;       /* listener closed, exit when awaiting is 0 */
	pthread_t thread;
	int thread_started;
};

/* PROBE_PORT: a second evhttp on loop 0 (worker 0 drains and frees it). */
struct probe_listener {
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
	struct evapi_conns *conns;
	evutil_socket_t fd;
};

static struct probe_listener probe_srv = {NULL, NULL, NULL, -1};

static __thread struct evapi_worker *current_worker;
static const struct evapi_body *body_not_found;
static const struct evapi_body *body_not_allowed;
static unsigned workers_done; /* guarded by done_lock */
static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;

static volatile int draining_now; /* a copy of srv->draining for replies */

int
evapi_server_draining(void)
{
	return draining_now;
}

struct event_base *
evapi_server_main_base(struct evapi_server *srv)
{
	return srv->workers[0].base;
}

/* ---- listening sockets ------------------------------------------------ */

struct addr {
	struct sockaddr_storage ss;
	socklen_t len;
};

static int
make_addr(const char *ip, unsigned port, struct addr *a)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)&a->ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a->ss;

	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, ip, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		a->len = sizeof(*in4);
		return EVAPI_OK;
	}
	if (inet_pton(AF_INET6, ip, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		a->len = sizeof(*in6);
		return EVAPI_OK;
	}
	return EVAPI_ERR;
}

static int
open_listener(const struct addr *a, int reuseport)
{
	int one = 1, fd;

	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* Accepted sockets inherit TCP_NODELAY on Linux: replies are written
	 * whole, so Nagle would only add a delayed-ACK stall per response. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (reuseport &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0)
		goto fail;
	if (bind(fd, (const struct sockaddr *)&a->ss, a->len) != 0)
		goto fail;
	if (listen(fd, 1024) != 0)
		goto fail;
	return fd;
fail:
	{
		int e = errno;

		close(fd);
		errno = e;
	}
	return -1;
}

/* One line naming PORT (or PROBE_PORT), BIND_ADDRESS and why; exit 78. */
static void
listen_failed(const struct evapi_config *cfg, const char *name,
	      unsigned port)
{
	const char *hint = errno == EADDRINUSE ? "the address is already in use"
			 : errno == EACCES ? "permission denied (a port below "
					     "1024 needs privileges)"
			 : errno == EADDRNOTAVAIL
				 ? "the address is not on this host"
				 : strerror(errno);

	evapi_die_config("configuration error: cannot listen on "
			 "BIND_ADDRESS=%s %s=%u: %s",
			 cfg->bind_address, name, port, hint);
}

static void
open_probe_listener(const struct evapi_config *cfg)
{
	struct addr a;

	if (cfg->probe_port == 0)
		return;
	if (make_addr(cfg->bind_address, cfg->probe_port, &a) != EVAPI_OK)
		evapi_die_config("configuration error: BIND_ADDRESS=%s",
				 cfg->bind_address);
	probe_srv.fd = open_listener(&a, 0);
	if (probe_srv.fd < 0)
		listen_failed(cfg, "PROBE_PORT", cfg->probe_port);
}

static void
open_listeners(struct evapi_server *srv)
{
	const struct evapi_config *cfg = &srv->cfg;
	struct addr a;
	unsigned i;
	int probe;

	if (make_addr(cfg->bind_address, cfg->port, &a) != EVAPI_OK)
		evapi_die_config("configuration error: BIND_ADDRESS=%s",
				 cfg->bind_address);
	/* SO_REUSEPORT would let a second evapi silently share the port: bind
	 * once without it first, so "in use" is reported as such. */
	probe = open_listener(&a, 0);
	if (probe < 0)
		listen_failed(cfg, "PORT", cfg->port);
	open_probe_listener(cfg);
	if (srv->nworkers == 1) {
		srv->workers[0].fd = probe;
		return;
	}
	close(probe);
	for (i = 0; i < srv->nworkers; i++) {
		srv->workers[i].fd = open_listener(&a, 1);
		if (srv->workers[i].fd < 0)
			listen_failed(cfg, "PORT", cfg->port);
	}
}

/* ---- requests ---------------------------------------------------------- */

static const char *
method_name(enum evhttp_cmd_type m)
{
	switch (m) {
	case EVHTTP_REQ_GET: return "GET";
	case EVHTTP_REQ_HEAD: return "HEAD";
	case EVHTTP_REQ_POST: return "POST";
	case EVHTTP_REQ_PUT: return "PUT";
	case EVHTTP_REQ_DELETE: return "DELETE";
	case EVHTTP_REQ_OPTIONS: return "OPTIONS";
	case EVHTTP_REQ_TRACE: return "TRACE";
	case EVHTTP_REQ_CONNECT: return "CONNECT";
	case EVHTTP_REQ_PATCH: return "PATCH";
	}
	return "OTHER";
}

static void
maybe_finish(struct evapi_worker *w);

void
evapi_request_answered(struct evhttp_request *req, int code)
{
	struct evapi_worker *w = current_worker;

	if (w == NULL)
		return;
	if (w->srv->cfg.access_log || evapi_log_level == EVAPI_LOG_DEBUG) {
		char status[8];

		snprintf(status, sizeof(status), "%d", code);
		evapi_log(w->srv->cfg.access_log ? EVAPI_LOG_INFO
						 : EVAPI_LOG_DEBUG,
			  "request", "method",
			  method_name(evhttp_request_get_command(req)), "path",
			  evhttp_request_get_uri(req), "status", status, NULL);
	}
	/* The connection may take the next request (or be evicted) now. */
	if (!evapi_conns_answered(w->conns, req) && w->id == 0)
		evapi_conns_answered(probe_srv.conns, req);
	if (w->awaiting > 0)
		w->awaiting--;
	if (w->closing && w->awaiting == 0)
		maybe_finish(w);
}

static void
not_allowed(struct evhttp_request *req)
{
	evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
			  "GET, HEAD");
	evapi_reply_body(req, 405, body_not_allowed);
}

/* reqcheck.c over what evhttp parsed: 0, or the status to answer. */
static int
check_request(struct evhttp_request *req, const char **why)
{
	struct evkeyvalq *hdrs = evhttp_request_get_input_headers(req);
	struct evapi_reqcheck c;
	struct evkeyval *h;
	int status;

	evapi_reqcheck_start(&c, method_name(evhttp_request_get_command(req)),
			     evhttp_request_get_uri(req), req->major,
			     req->minor);
	/* The public struct of keyvalq_struct.h, walked without sys/queue.h
	 * (musl, the static build, has none). */
	for (h = hdrs->tqh_first; h != NULL; h = h->next.tqe_next)
		evapi_reqcheck_header(&c, h->key, h->value);
	status = evapi_reqcheck_finish(&c);
	*why = c.why;
	return status;
}

/* What follows a request evapi will not serve cannot be framed safely: the
 * answer closes the connection, so no later byte is read as a request. */
static void
bad_request(struct evhttp_request *req, int status, const char *why)
{
	/* evhttp 2.1 never closes after a CONNECT request, whatever the
	 * headers say (evhttp_is_request_connection_close): answered as a
	 * GET, the close is honoured. */
	if (req->type == EVHTTP_REQ_CONNECT)
		req->type = EVHTTP_REQ_GET;
	evhttp_add_header(evhttp_request_get_output_headers(req), "Connection",
			  "close");
	evapi_log(EVAPI_LOG_DEBUG, "bad request", "reason", why, NULL);
	evapi_reply_error(req, status, why);
}

/* The probe listener serves these routes and no other. */
static int
probe_route(const struct evapi_route *rt)
{
	return strcmp(rt->path, "/health") == 0 ||
	       strcmp(rt->path, "/ready") == 0 ||
	       strcmp(rt->path, "/version") == 0;
}

static void
dispatch(struct evapi_worker *w, struct evapi_conns *conns,
	 struct evhttp_request *req, int probes_only)
{
	const struct evapi_route *rt;
	enum evhttp_cmd_type m;
	const char *why;
	int status;

	w->awaiting++;
	/* After the loops ended the host still turns them to flush answers;
	 * a request read then must not reach a plugin that is finishing. */
	if (w->srv->stopped) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
				  "Connection", "close");
		evapi_reply_error(req, 503, "shutting down");
		return;
	}
	why = evapi_reqcheck_raw_why(evapi_conns_request(conns, req));
	status = why != NULL ? 400 : check_request(req, &why);
	if (status != 0) {
		bad_request(req, status, why);
		return;
	}
	rt = evapi_router_find(&w->srv->router, evhttp_request_get_uri(req));
	if (rt == NULL || (probes_only && !probe_route(rt))) {
		evapi_reply_body(req, 404, body_not_found);
		return;
	}
	m = evhttp_request_get_command(req);
	if (m != EVHTTP_REQ_GET && m != EVHTTP_REQ_HEAD) {
		not_allowed(req);
		return;
	}
	/* The request-free answer first, as on the fast path: both paths
	 * answer alike. */
	if (rt->answer != NULL) {
		const struct evapi_body *b = rt->answer(rt->answer_arg, &status);

		if (b != NULL) {
			evapi_reply_body(req, status, b);
			return;
		}
	}
	rt->fn(req, rt->arg);
}

/* The fast path's question (fastserve.h): a request-free answer for R, or
 * NULL for evhttp's path, which also serves whatever must be logged or
 * closed differently (access log, drain, stop). */
static const struct evapi_body *
fast_answer(struct evapi_worker *w, const struct evapi_fastreq *r,
	    int *status, int probes_only)
{
	const struct evapi_route *rt;

	if (w->srv->stopped || draining_now || w->srv->cfg.access_log ||
	    evapi_log_level == EVAPI_LOG_DEBUG)
		return NULL;
	rt = evapi_router_find_n(&w->srv->router, r->target, r->target_len);
	if (rt == NULL || rt->answer == NULL ||
	    (probes_only && !probe_route(rt)))
		return NULL;
	return rt->answer(rt->answer_arg, status);
}

static const struct evapi_body *
fast_main(void *arg, const struct evapi_fastreq *r, int *status)
{
	return fast_answer(arg, r, status, 0);
}

static const struct evapi_body *
fast_probe(void *arg, const struct evapi_fastreq *r, int *status)
{
	return fast_answer(arg, r, status, 1);
}

static void
on_request(struct evhttp_request *req, void *arg)
{
	struct evapi_worker *w = arg;

	dispatch(w, w->conns, req, 0);
}

static void
on_probe_request(struct evhttp_request *req, void *arg)
{
	struct evapi_worker *w = arg;

	dispatch(w, probe_srv.conns, req, 1);
}

/* ---- workers ------------------------------------------------------------ */

/* Limits and flags both evhttps share. */
static void
configure_http(struct evhttp *http, const struct evapi_config *cfg)
{
	/* Accept every method evhttp knows, so that a known path answers
	 * 405 with Allow (evhttp itself would answer 501). */
	evhttp_set_allowed_methods(http,
		EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
		EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
		EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
	evhttp_set_default_content_type(http, "application/json");
	evhttp_set_max_headers_size(http, (ev_ssize_t)cfg->max_header_size);
	evhttp_set_max_body_size(http, (ev_ssize_t)cfg->max_body_size);
	evhttp_set_timeout(http, (int)cfg->idle_timeout);
	/* Read the rest of an oversized body before closing, so the client
	 * receives the 413 instead of a reset. */
	evhttp_set_flags(http, EVHTTP_SERVER_LINGERING_CLOSE);
}

/* MAX_CONNECTIONS=auto: 1024, or fewer when RLIMIT_NOFILE leaves less
 * room next to the descriptors evapi itself needs (stdio, listeners, an
 * epoll and a notification pair per loop, plugins' database sockets). */
static unsigned long
resolve_max_connections(const struct evapi_server *srv)
{
	/* Per loop: epoll, notification, listener, one connection above its
	 * cap share while another is being evicted (conns.c), and slack. */
	unsigned long reserve = 16 + 5 * (unsigned long)srv->nworkers;
	unsigned long room = 1024;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		room = rl.rlim_cur > reserve + 8 ? rl.rlim_cur - reserve : 8;
	if (srv->cfg.max_connections == 0)
		return room < 1024 ? room : 1024;
	if (srv->cfg.max_connections > room)
		evapi_log(EVAPI_LOG_WARN, "MAX_CONNECTIONS is above what "
			  "RLIMIT_NOFILE leaves; accept() will pause when "
			  "descriptors run out", NULL);
	return srv->cfg.max_connections;
}

/* epoll with a changelist: evhttp turns reading off and writing on (and
 * back) around every response; the changelist folds each pair into one
 * epoll_ctl per loop turn instead of one per change. evapi never dup()s a
 * socket, the one case the changelist gets wrong. */
static struct event_base *
new_base(void)
{
	struct event_config *cfg = event_config_new();
	struct event_base *base;

	if (cfg == NULL)
		return NULL;
	event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	return base;
}

static int
setup_worker(struct evapi_server *srv, struct evapi_worker *w,
	     unsigned long cap)
{
	const struct evapi_config *cfg = &srv->cfg;

	w->srv = srv;
	w->base = new_base();
	if (w->base == NULL)
		return EVAPI_ERR;
	w->http = evhttp_new(w->base);
	if (w->http == NULL)
		return EVAPI_ERR;
	evhttp_set_gencb(w->http, on_request, w);
	configure_http(w->http, cfg);
	w->conns = evapi_conns_new(w->base, w->http, "main", cap,
				   cfg->header_timeout);
	if (w->conns == NULL)
		return EVAPI_ERR;
	evapi_conns_set_fast(w->conns, fast_main, w, cfg->max_header_size);
	return EVAPI_OK;
}

static int
setup_probe(struct evapi_server *srv)
{
	struct evapi_worker *w0 = &srv->workers[0];

	if (srv->cfg.probe_port == 0)
		return EVAPI_OK;
	probe_srv.http = evhttp_new(w0->base);
	if (probe_srv.http == NULL)
		return EVAPI_ERR;
	evhttp_set_gencb(probe_srv.http, on_probe_request, w0);
	configure_http(probe_srv.http, &srv->cfg);
	probe_srv.conns = evapi_conns_new(w0->base, probe_srv.http, "probe",
					  PROBE_MAX_CONNECTIONS,
					  srv->cfg.header_timeout);
	if (probe_srv.conns == NULL)
		return EVAPI_ERR;
	evapi_conns_set_fast(probe_srv.conns, fast_probe, w0,
			     srv->cfg.max_header_size);
	return EVAPI_OK;
}

/* New connections wait for their first bytes outside evhttp only when the
 * fast path can answer them at all: not when every request is logged. */
static int
early_on(const struct evapi_server *srv)
{
	return !srv->cfg.access_log && evapi_log_level != EVAPI_LOG_DEBUG;
}

static int
attach_listeners(struct evapi_server *srv)
{
	unsigned i;

	for (i = 0; i < srv->nworkers; i++) {
		struct evapi_worker *w = &srv->workers[i];

		w->bound = evhttp_accept_socket_with_handle(w->http, w->fd);
		if (w->bound == NULL)
			return EVAPI_ERR;
		/* evhttp owns (and closes) the socket from now on. */
		w->fd = -1;
		evapi_conns_set_listener(w->conns,
			evhttp_bound_socket_get_listener(w->bound));
		evapi_conns_set_early(w->conns, early_on(srv));
	}
	if (probe_srv.fd < 0)
		return EVAPI_OK;
	probe_srv.bound = evhttp_accept_socket_with_handle(probe_srv.http,
							   probe_srv.fd);
	if (probe_srv.bound == NULL)
		return EVAPI_ERR;
	probe_srv.fd = -1;
	evapi_conns_set_listener(probe_srv.conns,
		evhttp_bound_socket_get_listener(probe_srv.bound));
	evapi_conns_set_early(probe_srv.conns, early_on(srv));
	return EVAPI_OK;
}

static void
finish_loop(struct evapi_worker *w)
{
	struct timeval flush = {0, 50000};

	/* The last answers are queued, not yet written: give the loop a
	 * moment to write them before it ends. */
	event_base_loopexit(w->base, &flush);
}

static void
maybe_finish(struct evapi_worker *w)
{
	struct evapi_server *srv = w->srv;
	unsigned done;

	if (w->awaiting > 0)
		return;
	if (w->id != 0) {
		finish_loop(w);
		return;
	}
	/* Loop 0 carries the plugins' background work (a readiness check
	 * other loops may be waiting for): it ends last. */
	pthread_mutex_lock(&done_lock);
	done = workers_done;
	pthread_mutex_unlock(&done_lock);
	if (done + 1 >= srv->nworkers)
		finish_loop(w);
}

static void
on_close_listener(evutil_socket_t fd, short what, void *arg)
{
	struct evapi_worker *w = arg;

	(void)fd;
	(void)what;
	if (!w->closing) {
		w->closing = 1;
		evapi_conns_set_listener(w->conns, NULL);
		evhttp_del_accept_socket(w->http, w->bound);
		w->bound = NULL;
		if (w->id == 0 && probe_srv.bound != NULL) {
			evapi_conns_set_listener(probe_srv.conns, NULL);
			evhttp_del_accept_socket(probe_srv.http,
						 probe_srv.bound);
			probe_srv.bound = NULL;
		}
	}
	maybe_finish(w);
}

static void *
worker_main(void *arg)
{
	struct evapi_worker *w = arg;
	struct evapi_worker *w0 = &w->srv->workers[0];

	current_worker = w;
	event_base_dispatch(w->base);
	pthread_mutex_lock(&done_lock);
	workers_done++;
	pthread_mutex_unlock(&done_lock);
	/* Loop 0 may be waiting for us to end. */
	event_active(w0->drain_ev, EV_TIMEOUT, 0);
	return NULL;
}

/* ---- signals and drain ------------------------------------------------ */

static struct event *sig_term, *sig_int, *drain_timer, *deadline_timer;
static int signals_seen;

static void
close_all_listeners(evutil_socket_t fd, short what, void *arg)
{
	struct evapi_server *srv = arg;
	unsigned i;

	(void)fd;
	(void)what;
	evapi_log(EVAPI_LOG_INFO, "closing listeners", NULL);
	for (i = 0; i < srv->nworkers; i++)
		event_active(srv->workers[i].drain_ev, EV_TIMEOUT, 0);
}

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct evapi_server *srv = arg;
	unsigned i, left = 0;

	(void)fd;
	(void)what;
	for (i = 0; i < srv->nworkers; i++)
		left += srv->workers[i].awaiting;
	evapi_log(EVAPI_LOG_WARN, "shutdown timeout reached; abandoning "
		  "requests still in flight", "requests",
		  left ? "some" : "none", NULL);
	for (i = 0; i < srv->nworkers; i++)
		event_base_loopbreak(srv->workers[i].base);
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
		evapi_log(EVAPI_LOG_WARN, "second signal: exiting now",
			  "signal", name, NULL);
		_exit(128 + (int)sig);
	}
	srv->draining = 1;
	draining_now = 1;
	evapi_log(EVAPI_LOG_INFO, "draining", "signal", name, NULL);
	evtimer_add(deadline_timer, &limit);
	evtimer_add(drain_timer, &delay);
}

static int
setup_signals(struct evapi_server *srv)
{
	struct event_base *base = srv->workers[0].base;

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

static void
free_signals(void)
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

/* ---- run ------------------------------------------------------------------ */

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
	evapi_log(EVAPI_LOG_INFO, "evapi started", "version",
		  evapi_build_version, "commit", evapi_build_commit,
		  "environment", srv->cfg.environment, "plugins",
		  srv->active_plugins, "address", addr, "workers", workers,
		  "build", evapi_plugin_mode, "max_connections", maxconn,
		  "probe_port", srv->cfg.probe_port ? probe : "none", NULL);
}

static int
start_threads(struct evapi_server *srv)
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

static void
free_probe(void)
{
	if (probe_srv.http != NULL)
		evhttp_free(probe_srv.http);
	evapi_conns_free(probe_srv.conns);
	if (probe_srv.fd >= 0)
		close(probe_srv.fd);
	probe_srv.http = NULL;
	probe_srv.conns = NULL;
	probe_srv.bound = NULL;
	probe_srv.fd = -1;
}

static void
turn_loops(struct evapi_server *srv)
{
	unsigned i;

	for (i = 0; i < srv->nworkers; i++)
		if (srv->workers[i].base != NULL)
			event_base_loop(srv->workers[i].base, EVLOOP_NONBLOCK);
}

static void
teardown(struct evapi_server *srv)
{
	unsigned i;

	for (i = 0; i < srv->nworkers; i++) {
		struct evapi_worker *w = &srv->workers[i];

		if (w->thread_started)
			pthread_join(w->thread, NULL);
	}
	/* From here no handler runs. One non-blocking turn of each loop
	 * delivers answers plugins already queued there, fini answers what
	 * still waits, and one more turn writes those answers before the
	 * connections are freed. */
	srv->stopped = 1;
	turn_loops(srv);
	evapi_plugins_fini(srv);
	turn_loops(srv);
	free_signals();
	for (i = 0; i < srv->nworkers; i++) {
		struct evapi_worker *w = &srv->workers[i];

		if (w->drain_ev)
			event_free(w->drain_ev);
		if (i == 0) {
			srv->fast_served +=
				evapi_conns_fast_served(probe_srv.conns);
			srv->accept_served +=
				evapi_conns_accept_served(probe_srv.conns);
			free_probe();
		}
		/* evhttp frees its connections first: conns drops its hold
		 * on them only after. */
		if (w->http)
			evhttp_free(w->http);
		srv->fast_served += evapi_conns_fast_served(w->conns);
		srv->accept_served += evapi_conns_accept_served(w->conns);
		evapi_conns_free(w->conns);
		if (w->fd >= 0)
			close(w->fd);
		if (w->base)
			event_base_free(w->base);
	}
	free(srv->workers);
	srv->workers = NULL;
}

static int
setup(struct evapi_server *srv)
{
	unsigned long max = resolve_max_connections(srv);
	/* Split evenly, rounded down so that the sum stays within max: each
	 * loop accepts on its own socket. */
	unsigned long cap = max / srv->nworkers ? max / srv->nworkers : 1;
	unsigned i;

	srv->cfg.max_connections = max;
	for (i = 0; i < srv->nworkers; i++) {
		struct evapi_worker *w = &srv->workers[i];

		w->id = i;
		if (setup_worker(srv, w, cap) != EVAPI_OK)
			return EVAPI_ERR;
		w->drain_ev = event_new(w->base, -1, 0, on_close_listener, w);
		if (w->drain_ev == NULL)
			return EVAPI_ERR;
	}
	if (setup_probe(srv) != EVAPI_OK)
		return EVAPI_ERR;
	return setup_signals(srv);
}

int
evapi_server_run(struct evapi_server *srv, int check_only)
{
	char fast[24], at_accept[24];
	unsigned i;
	int rc = EVAPI_ERR;

	signal(SIGPIPE, SIG_IGN);
	evthread_use_pthreads();
	body_not_found = evapi_body_new(
		"{\"error\":\"not found\",\"status\":404}");
	body_not_allowed = evapi_body_new(
		"{\"error\":\"method not allowed\",\"status\":405}");
	srv->workers = calloc(srv->nworkers, sizeof(*srv->workers));
	if (srv->workers == NULL || !body_not_found || !body_not_allowed)
		goto out;
	for (i = 0; i < srv->nworkers; i++)
		srv->workers[i].fd = -1;
	if (setup(srv) != EVAPI_OK) {
		evapi_err("cannot set up the event loops");
		goto out;
	}
	/* Plugins initialise before anything binds: --check-config runs the
	 * very same checks, and a bad DATABASE_URL never leaves a port open.
	 * init only registers events; no loop runs yet. */
	if (evapi_plugins_init(srv) != EVAPI_OK) {
		rc = EVAPI_EXIT_CONFIG;
		goto out;
	}
	if (check_only) {
		rc = EVAPI_OK;
		goto out;
	}
	open_listeners(srv);
	if (attach_listeners(srv) != EVAPI_OK) {
		evapi_err("cannot attach the listening sockets");
		goto out;
	}
	log_start(srv);
	if (start_threads(srv) != EVAPI_OK) {
		evapi_err("cannot start worker threads");
		goto out;
	}
	current_worker = &srv->workers[0];
	event_base_dispatch(srv->workers[0].base);
	current_worker = NULL;
	teardown(srv);
	snprintf(fast, sizeof(fast), "%lu", srv->fast_served);
	snprintf(at_accept, sizeof(at_accept), "%lu", srv->accept_served);
	/* How many requests the fast path answered, and how many of them as
	 * their connection was accepted: tells an operator (and the tests)
	 * which path the traffic took. */
	evapi_log(EVAPI_LOG_INFO, "stopped", "fast_path_requests", fast,
		  "fast_path_at_accept", at_accept, NULL);
	rc = EVAPI_OK;
out:
	/* loopexit, not loopbreak: a thread that has not entered its loop yet
	 * would clear a break flag on entry and never return. */
	for (i = 1; srv->workers && i < srv->nworkers; i++)
		if (srv->workers[i].thread_started && rc != EVAPI_OK)
			event_base_loopexit(srv->workers[i].base, NULL);
	if (srv->workers)
		teardown(srv);
	evapi_bodies_free();
	return rc;
}
