/*
 * loop.c - timers, io watches, cross-loop calls and name resolution on
 * evapi's event loops (plugin.h), so a plugin never needs libevent's
 * types: the Redis module API's EventLoopAdd and timers, in evapi's terms.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include "util/log.h"
#include "loop.h"

#define MAX_ADDRS 8

static struct evapi_loop **all;
static unsigned nall;
static __thread struct evapi_loop *current;

void
evapi_loops_set(struct evapi_loop **loops, unsigned n)
{
	all = loops;
	nall = n;
}

void
evapi_loop_enter(struct evapi_loop *loop)
{
	current = loop;
}

evapi_loop *
evapi_current_loop(void)
{
	return current;
}

unsigned
evapi_loop_count(void)
{
	return nall;
}

evapi_loop *
evapi_loop_at(unsigned index)
{
	return index < nall ? all[index] : NULL;
}

unsigned
evapi_loop_index(const evapi_loop *loop)
{
	return loop != NULL ? loop->index : 0;
}

/* ---- calls from any thread --------------------------------------------------- */

struct call {
	void (*fn)(void *arg);
	void *arg;
};

static void
run_call(evutil_socket_t fd, short what, void *arg)
{
	struct call c = *(struct call *)arg;

	(void)fd;
	(void)what;
	free(arg);
	c.fn(c.arg);
}

int
evapi_loop_call(evapi_loop *loop, void (*fn)(void *arg), void *arg)
{
	struct call *c;

	if (loop == NULL || fn == NULL || loop->stopped)
		return EVAPI_ERR;
	c = malloc(sizeof(*c));
	if (c == NULL)
		return EVAPI_ERR;
	c->fn = fn;
	c->arg = arg;
	/* Thread-safe (the host enabled libevent's locking): wakes LOOP. */
	if (event_base_once(loop->base, -1, EV_TIMEOUT, run_call, c, NULL) !=
	    0) {
		free(c);
		return EVAPI_ERR;
	}
	return EVAPI_OK;
}

/* ---- timers ------------------------------------------------------------------------ */

struct evapi_timer {
	evapi_loop *loop;
	struct event *ev;
	void (*fn)(evapi_timer *t, void *arg);
	void *arg;
	int repeat;
};

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	evapi_timer *t = arg;

	(void)fd;
	(void)what;
	t->fn(t, t->arg);
}

evapi_timer *
evapi_timer_new(evapi_loop *loop, void (*fn)(evapi_timer *t, void *arg),
		void *arg)
{
	evapi_timer *t;

	if (loop == NULL || fn == NULL)
		return NULL;
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	t->loop = loop;
	t->fn = fn;
	t->arg = arg;
	return t;
}

int
evapi_timer_start(evapi_timer *t, unsigned long ms, int repeat)
{
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};

	if (t == NULL)
		return EVAPI_ERR;
	if (t->ev == NULL || t->repeat != (repeat != 0)) {
		if (t->ev != NULL)
			event_free(t->ev);
		t->repeat = repeat != 0;
		t->ev = event_new(t->loop->base, -1, t->repeat ? EV_PERSIST : 0,
				  on_timer, t);
		if (t->ev == NULL)
			return EVAPI_ERR;
	}
	return event_add(t->ev, &tv) == 0 ? EVAPI_OK : EVAPI_ERR;
}

void
evapi_timer_stop(evapi_timer *t)
{
	if (t != NULL && t->ev != NULL)
		event_del(t->ev);
}

void
evapi_timer_free(evapi_timer *t)
{
	if (t == NULL)
		return;
	if (t->ev != NULL)
		event_free(t->ev);
	free(t);
}

/* ---- io watches ----------------------------------------------------------------------- */

struct evapi_io {
	evapi_loop *loop;
	int fd;
	struct event *ev;
	void (*fn)(evapi_io *io, int events, void *arg);
	void *arg;
};

static void
on_io(evutil_socket_t fd, short what, void *arg)
{
	evapi_io *io = arg;
	int ev = 0;

	(void)fd;
	if (what & EV_READ)
		ev |= EVAPI_IO_READ;
	if (what & EV_WRITE)
		ev |= EVAPI_IO_WRITE;
	if (what & EV_TIMEOUT)
		ev |= EVAPI_IO_TIMEOUT;
	io->fn(io, ev, io->arg);
}

evapi_io *
evapi_io_new(evapi_loop *loop, int fd,
	     void (*fn)(evapi_io *io, int events, void *arg), void *arg)
{
	evapi_io *io;

	if (loop == NULL || fd < 0 || fn == NULL)
		return NULL;
	io = calloc(1, sizeof(*io));
	if (io == NULL)
		return NULL;
	io->loop = loop;
	io->fd = fd;
	io->fn = fn;
	io->arg = arg;
	return io;
}

/* One wait at a time: once (after FN runs, call again to wait more), or
 * until changed with EVAPI_IO_PERSIST. The same persistent wait asked
 * again costs nothing; another one reuses the event. */
int
evapi_io_want(evapi_io *io, int events, unsigned long timeout_ms)
{
	struct timeval tv = {(time_t)(timeout_ms / 1000),
			     (suseconds_t)(timeout_ms % 1000) * 1000};
	short what = 0;

	if (io == NULL)
		return EVAPI_ERR;
	if (events & EVAPI_IO_READ)
		what |= EV_READ;
	if (events & EVAPI_IO_WRITE)
		what |= EV_WRITE;
	if (what != 0 && (events & EVAPI_IO_PERSIST))
		what |= EV_PERSIST;
	if (io->ev != NULL && (what & EV_PERSIST) && timeout_ms == 0 &&
	    event_get_events(io->ev) == what &&
	    event_pending(io->ev, EV_READ | EV_WRITE, NULL))
		return EVAPI_OK;
	if (io->ev != NULL)
		event_del(io->ev);
	if (what == 0 && timeout_ms == 0)
		return EVAPI_OK;
	if (io->ev == NULL)
		io->ev = event_new(io->loop->base, what ? io->fd : -1, what,
				   on_io, io);
	else if (event_assign(io->ev, io->loop->base, what ? io->fd : -1, what,
			      on_io, io) != 0)
		return EVAPI_ERR;
	if (io->ev == NULL)
		return EVAPI_ERR;
	return event_add(io->ev, timeout_ms ? &tv : NULL) == 0 ? EVAPI_OK
							       : EVAPI_ERR;
}

void
evapi_io_free(evapi_io *io)
{
	if (io == NULL)
		return;
	if (io->ev != NULL)
		event_free(io->ev);
	free(io);
}

/* ---- name resolution ------------------------------------------------------------------- */

struct evapi_lookup {
	evapi_loop *loop;
	struct evdns_getaddrinfo_request *req;
	void (*cb)(int err, const char *const *addrs, int naddrs, void *arg);
	void *arg;
	int launching, cancelled, answered;
	int err, n;
	char addr[MAX_ADDRS][INET6_ADDRSTRLEN];
};

static int
map_error(int err)
{
	if (err == 0)
		return 0;
	if (err == EVUTIL_EAI_NONAME || err == EVUTIL_EAI_NODATA ||
	    err == EVUTIL_EAI_FAMILY || err == EVUTIL_EAI_ADDRFAMILY)
		return EVAPI_LOOKUP_NOT_FOUND;
	return EVAPI_LOOKUP_FAILED;
}

const char *
evapi_lookup_error(int err)
{
	switch (err) {
	case 0: return "ok";
	case EVAPI_LOOKUP_NOT_FOUND: return "host not found";
	default: return "name resolution failed";
	}
}

static void
deliver(struct evapi_lookup *lk)
{
	const char *p[MAX_ADDRS];
	int i;

	for (i = 0; i < lk->n; i++)
		p[i] = lk->addr[i];
	if (!lk->cancelled)
		lk->cb(lk->err, p, lk->n, lk->arg);
	free(lk);
}

static void
deliver_later(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	deliver(arg);
}

static void
keep_addresses(struct evapi_lookup *lk, const struct evutil_addrinfo *ai)
{
	for (; ai != NULL && lk->n < MAX_ADDRS; ai = ai->ai_next) {
		const void *src;
		char buf[INET6_ADDRSTRLEN];
		int i, dup = 0;

		if (ai->ai_family == AF_INET)
			src = &((const struct sockaddr_in *)ai->ai_addr)->sin_addr;
		else if (ai->ai_family == AF_INET6)
			src = &((const struct sockaddr_in6 *)ai->ai_addr)
				       ->sin6_addr;
		else
			continue;
		if (evutil_inet_ntop(ai->ai_family, src, buf, sizeof(buf)) ==
		    NULL)
			continue;
		for (i = 0; i < lk->n; i++)
			dup |= strcmp(lk->addr[i], buf) == 0;
		if (!dup)
			strcpy(lk->addr[lk->n++], buf);
	}
}

static void
on_resolved(int err, struct evutil_addrinfo *ai, void *arg)
{
	struct evapi_lookup *lk = arg;

	lk->req = NULL;
	lk->answered = 1;
	lk->err = map_error(err);
	if (err == EVUTIL_EAI_CANCEL)
		lk->cancelled = 1;
	keep_addresses(lk, ai);
	if (ai != NULL)
		evutil_freeaddrinfo(ai);
	if (lk->n == 0 && lk->err == 0)
		lk->err = EVAPI_LOOKUP_NOT_FOUND;
	/* Answered from /etc/hosts inside evdns_getaddrinfo: the caller
	 * gets its handle back first, the answer on the next loop turn. */
	if (lk->launching) {
		if (event_base_once(lk->loop->base, -1, EV_TIMEOUT,
				    deliver_later, lk, NULL) != 0)
			lk->cancelled = 1; /* evapi_resolve frees it */
		return;
	}
	deliver(lk);
}

evapi_lookup *
evapi_resolve(evapi_loop *loop, const char *host,
	      void (*cb)(int err, const char *const *addrs, int naddrs,
			 void *arg),
	      void *arg)
{
	struct evutil_addrinfo hints;
	struct evapi_lookup *lk;

	if (loop == NULL || host == NULL || cb == NULL)
		return NULL;
	if (loop->dns == NULL) {
		/* Reads /etc/resolv.conf and /etc/hosts once. */
		loop->dns = evdns_base_new(loop->base,
					   EVDNS_BASE_INITIALIZE_NAMESERVERS);
		if (loop->dns == NULL)
			return NULL;
	}
	lk = calloc(1, sizeof(*lk));
	if (lk == NULL)
		return NULL;
	lk->loop = loop;
	lk->cb = cb;
	lk->arg = arg;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	lk->launching = 1;
	lk->req = evdns_getaddrinfo(loop->dns, host, NULL, &hints, on_resolved,
				    lk);
	lk->launching = 0;
	if (lk->answered && lk->cancelled) {
		free(lk);
		return NULL;
	}
	if (!lk->answered && lk->req == NULL) {
		free(lk);
		return NULL;
	}
	return lk;
}

void
evapi_lookup_cancel(evapi_lookup *lk)
{
	if (lk == NULL)
		return;
	lk->cancelled = 1;
	/* The callback comes with EVUTIL_EAI_CANCEL and frees it; an answer
	 * already scheduled sees the flag and frees it. */
	if (lk->req != NULL)
		evdns_getaddrinfo_cancel(lk->req);
}

void
evapi_loop_cleanup(struct evapi_loop *loop)
{
	if (loop->dns != NULL) {
		/* Pending lookups are dropped without calling back: every plugin
		 * is finished by now. */
		evdns_base_free(loop->dns, 0);
		loop->dns = NULL;
	}
}
