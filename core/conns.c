/*
 * conns.c - a connection cap, a request-head deadline and an accept()
 * backoff for evhttp 2.1, which has none of them and no connection hooks.
 *
 * How a connection is tracked, with public libevent 2.1 API only:
 *   - evhttp_set_bevcb: evhttp asks us for each accepted connection's
 *     bufferevent (before it sets the descriptor). We create it with
 *     BEV_OPT_CLOSE_ON_FREE and take a reference (bufferevent_incref).
 *     While we hold it, the descriptor cannot be closed by anyone: evhttp
 *     closes an incoming connection's socket only through bufferevent_free
 *     when CLOSE_ON_FREE is set, and with our reference that merely drops
 *     evhttp's one. So a tracked bufferevent's descriptor always belongs to
 *     that connection and may be shut down; this is the proof the deadline
 *     needs. (A pass-through bufferevent_filter would be simpler but loses
 *     every "Connection: close" response: see the hardening notes.)
 *   - The bufferevent's callback argument is evhttp's connection; one loop
 *     turn after the accept we install evhttp_connection_set_closecb, which
 *     evhttp_connection_free calls: we then drop our reference in the next
 *     callback round, which closes the descriptor. As a fallback (a plugin
 *     may replace the close callback), a bufferevent whose callbacks evhttp
 *     cleared is recognised by the sweep and by the input callback.
 *   - An evbuffer callback on the input tells when the first bytes of the
 *     next request arrive on a kept-alive connection.
 *   - The listener's accept callback is ours: a connection that already
 *     holds a request the fast path answers and closes is served there and
 *     never reaches evhttp (fastserve.c); every other one goes to evhttp's
 *     own accept callback. libevent has no getter for that callback; see
 *     take_accept for how it is found, checked, and done without.
 *
 * Each connection is in one phase, each phase a queue ordered by the
 * phase's start time:
 *   HEAD     reading a request head (and body): deadline HEADER_TIMEOUT;
 *   BUSY     a handler has the request;
 *   IDLE     answered; keep-alive idle or still writing the reply;
 *   EVICTED  shut down by us, evhttp has not noticed yet;
 *   GONE     evhttp freed it; our reference is dropped in the reap round.
 * At the cap, a new connection evicts the oldest HEAD or IDLE connection
 * (the way nginx reuses idle keep-alive connections), so a slowloris client
 * cannot lock fresh clients out; the listener pauses until that
 * connection's descriptor is closed, so at most cap + 1 are open. When
 * every connection is BUSY the listener stays paused; the kernel backlog
 * then holds newcomers.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include "conns.h"
#include "evapi-internal.h"
#include "fastpath.h"
#include "fastserve.h"
#include "reqcheck.h"

enum phase { PH_HEAD, PH_BUSY, PH_IDLE, PH_EVICTED, PH_GONE, PH_N };

#define SWEEP_MS 250        /* deadline resolution */
#define PAUSE_MS 200        /* listener pause after EMFILE/ENFILE */
#define WARN_EVERY_MS 10000 /* at most one warning line per reason */
#define EVICT_GRACE_MS 1000 /* an eviction holds the listener that long */
#define MAX_SETS (EVAPI_MAX_WORKERS + 1)
/* How long a new connection may take to send its first bytes before evhttp
 * takes it anyway (its HEADER_TIMEOUT starts then). Clients send the
 * request right after the handshake; this only bounds the others. */
#define EARLY_WAIT_MS 100

struct conn {
	struct bufferevent *bev;
	struct evapi_conns *set;
	struct evbuffer_cb_entry *incb;
	struct conn *prev, *next; /* in set->q[phase] */
	struct conn *hnext;     /* hash chain */
	struct conn *pnext;     /* close callback not installed yet */
	uint64_t since;         /* ms: start of the current phase */
	enum phase phase;
	int attached;
	int fresh;              /* no byte received yet */
	unsigned raw_state;     /* evapi_reqcheck_scan() over the input */
	unsigned raw_flags;
	struct evapi_fast_conn fast;
};
/* A queue per phase, oldest first (no sys/queue.h: musl has none). */
struct connq {
	struct conn *first, *last;
};

struct evapi_conns {
	struct event_base *base;
	struct evhttp *http;
	struct evconnlistener *lev;
	const char *name;
	unsigned long cap;
	uint64_t header_ms;
	unsigned long count; /* tracked: the descriptor is open */
	unsigned long n[PH_N];
	struct connq q[PH_N];
	struct conn **buckets;
	size_t mask;
	struct conn *pending;
	struct evapi_fast fast;
	unsigned long fast_served, accept_served;
	evconnlistener_cb evhttp_accept; /* NULL: evhttp's callback stays */
	int early_on;                    /* new connections wait in EARLY */
	struct early *early;             /* waiting for their first bytes */
	int capture;                     /* on_accept: note the bufferevent */
	struct bufferevent *captured;
	struct event *reap_ev, *sweep_ev, *resume_ev;
	int lev_enabled;
	int paused_err;
	uint64_t warned_at[2];
	unsigned long unwarned[2];
};

enum { WARN_ACCEPT, WARN_CAP };

/* The listener error callback only gets evhttp as its argument. The table
 * is written before any worker thread starts and only read afterwards. */
static struct evapi_conns *sets[MAX_SETS];
static size_t nsets;

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- lookup by bufferevent ------------------------------------------------ */

static size_t
slot(const struct evapi_conns *s, const struct bufferevent *bev)
{
	uint64_t h = (uint64_t)(uintptr_t)bev;

	h ^= h >> 17;
	h *= 0x9E3779B97F4A7C15ULL;
	return (size_t)(h >> 32) & s->mask;
}

static struct conn *
find(const struct evapi_conns *s, const struct bufferevent *bev)
{
	struct conn *c;

	for (c = s->buckets[slot(s, bev)]; c != NULL; c = c->hnext)
		if (c->bev == bev)
			return c;
	return NULL;
}

static void
unhash(struct evapi_conns *s, struct conn *c)
{
	struct conn **p = &s->buckets[slot(s, c->bev)];

	while (*p != NULL && *p != c)
		p = &(*p)->hnext;
	if (*p != NULL)
		*p = c->hnext;
}

static struct conn *
find_req(const struct evapi_conns *s, struct evhttp_request *req)
{
	struct evhttp_connection *evcon;

	if (s == NULL || req == NULL)
		return NULL;
	evcon = evhttp_request_get_connection(req);
	if (evcon == NULL)
		return NULL;
	return find(s, evhttp_connection_get_bufferevent(evcon));
}

/* ---- phases ------------------------------------------------------------------ */

static void
q_append(struct connq *q, struct conn *c)
{
	c->prev = q->last;
	c->next = NULL;
	if (q->last != NULL)
		q->last->next = c;
	else
		q->first = c;
	q->last = c;
}

static void
q_remove(struct connq *q, struct conn *c)
{
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		q->first = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	else
		q->last = c->prev;
	c->prev = c->next = NULL;
}

static void
set_phase(struct evapi_conns *s, struct conn *c, enum phase ph)
{
	q_remove(&s->q[c->phase], c);
	s->n[c->phase]--;
	c->phase = ph;
	c->since = now_ms();
	q_append(&s->q[ph], c);
	s->n[ph]++;
}

/* evhttp still uses the bufferevent: it clears every callback when it
 * frees its connection, and never before (incoming connections are never
 * reset in 2.1.12). */
static int
owned(const struct conn *c)
{
	bufferevent_event_cb ecb = NULL;
	void *arg = NULL;

	bufferevent_getcb(c->bev, NULL, NULL, &ecb, &arg);
	return ecb != NULL || arg != NULL;
}

static void
to_gone(struct evapi_conns *s, struct conn *c)
{
	if (c->phase == PH_GONE)
		return;
	/* Not attached yet and already dropped: evhttp gave up on it inside
	 * the accept (out of memory) and may have closed the descriptor
	 * itself, so ours must not close it again. */
	if (!c->attached)
		bufferevent_setfd(c->bev, -1);
	/* Whatever arrives now would pile up in a buffer nobody reads. */
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	set_phase(s, c, PH_GONE);
	event_active(s->reap_ev, EV_TIMEOUT, 0);
}

/* A descriptor is about to be closed. evhttp frees a shut-down connection
 * within a loop turn or two; one that lingers (its reads disabled, say)
 * must not pause the listener for good. */
static int
closing(const struct evapi_conns *s)
{
	const struct conn *newest = s->q[PH_EVICTED].last;

	return s->n[PH_GONE] > 0 ||
	       (newest != NULL && now_ms() - newest->since < EVICT_GRACE_MS);
}

static int
can_accept(const struct evapi_conns *s)
{
	if (s->cap == 0 || s->count < s->cap)
		return 1;
	/* At the cap, one newcomer may take the place of one evicted
	 * connection; the next waits until that descriptor is closed, so
	 * at most cap + 1 descriptors are held (while evhttp keeps up). */
	return !closing(s) && s->n[PH_HEAD] + s->n[PH_IDLE] > 0;
}

static void
warn_limited(struct evapi_conns *s, int which, const char *msg,
	     const char *why)
{
	uint64_t now = now_ms();
	char n[24];

	s->unwarned[which]++;
	if (s->warned_at[which] != 0 &&
	    now - s->warned_at[which] < WARN_EVERY_MS)
		return;
	snprintf(n, sizeof(n), "%lu", s->unwarned[which]);
	evapi_log(EVAPI_LOG_WARN, msg, "listener", s->name, "reason", why,
		  "events", n, NULL);
	s->warned_at[which] = now;
	s->unwarned[which] = 0;
}

/* The listener runs iff it is open, not backing off, and a connection may
 * be taken. Only a change costs a system call. */
static void
update_listener(struct evapi_conns *s)
{
	int want = s->lev != NULL && !s->paused_err && can_accept(s);

	if (s->lev == NULL || want == s->lev_enabled)
		return;
	if (want)
		evconnlistener_enable(s->lev);
	else
		evconnlistener_disable(s->lev);
	s->lev_enabled = want;
}

/* ---- closing connections --------------------------------------------------- */

/* Shut C's socket down; evhttp sees EOF and frees its connection, which
 * brings C to GONE. The descriptor is C's own: see the top of the file. */
static void
evict(struct evapi_conns *s, struct conn *c)
{
	evutil_socket_t fd = bufferevent_getfd(c->bev);

	if (!owned(c) || fd < 0) {
		to_gone(s, c);
		return;
	}
	shutdown(fd, SHUT_RDWR);
	set_phase(s, c, PH_EVICTED);
}

/* The oldest connection that is not in a handler's hands. */
static int
evict_oldest(struct evapi_conns *s)
{
	struct conn *h = s->q[PH_HEAD].first;
	struct conn *i = s->q[PH_IDLE].first;
	struct conn *c = (h != NULL && (i == NULL || h->since <= i->since))
				 ? h
				 : i;

	if (c == NULL)
		return 0;
	evict(s, c);
	return 1;
}

static void
release(struct evapi_conns *s, struct conn *c)
{
	unhash(s, c);
	q_remove(&s->q[c->phase], c);
	s->n[c->phase]--;
	s->count--;
	evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->incb);
	evapi_fast_conn_release(&c->fast);
	/* The last reference: libevent closes the socket (CLOSE_ON_FREE). */
	bufferevent_decref(c->bev);
	free(c);
}

static void
on_close(struct evhttp_connection *evcon, void *arg)
{
	struct conn *c = arg;

	(void)evcon;
	to_gone(c->set, c);
}

/* Install the close callback on connections accepted since the last
 * round: evhttp sets its connection as the bufferevent's callback argument
 * after our bevcb returned. */
static void
attach_pending(struct evapi_conns *s)
{
	struct conn *c, *next;
	void *evcon;

	for (c = s->pending; c != NULL; c = next) {
		next = c->pnext;
		c->pnext = NULL;
		if (c->phase == PH_GONE)
			continue;
		evcon = NULL;
		bufferevent_getcb(c->bev, NULL, NULL, NULL, &evcon);
		if (evcon == NULL) {
			to_gone(s, c);
			continue;
		}
		evhttp_connection_set_closecb(evcon, on_close, c);
		c->attached = 1;
	}
	s->pending = NULL;
}

static void
reap(struct evapi_conns *s)
{
	struct conn *c;
	int closed = 0;

	attach_pending(s);
	while ((c = s->q[PH_GONE].first) != NULL) {
		release(s, c);
		closed = 1;
	}
	/* A descriptor was just closed: accept() can succeed again, no need
	 * to sit out the rest of an EMFILE pause. */
	if (closed && s->paused_err) {
		s->paused_err = 0;
		evtimer_del(s->resume_ev);
	}
	update_listener(s);
}

static void
on_reap(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	reap(arg);
}

/* ---- events from evhttp and the socket ------------------------------------ */

/* Feed the N bytes just read (the end of BUF) to the raw-byte check. */
static void
scan_added(struct conn *c, struct evbuffer *buf, size_t n)
{
	struct evbuffer_iovec v[16];
	struct evbuffer_ptr pos;
	size_t len = evbuffer_get_length(buf);
	int i, nv;

	if (n > len ||
	    evbuffer_ptr_set(buf, &pos, len - n, EVBUFFER_PTR_SET) != 0)
		return;
	nv = evbuffer_peek(buf, (ev_ssize_t)n, &pos, v, 16);
	/* One read fills at most a couple of chains; more than 16 would be
	 * a libevent change: refuse rather than let bytes go unchecked. */
	if (nv > 16)
		c->raw_flags |= EVAPI_RAW_NUL;
	for (i = 0; i < nv && i < 16 && n > 0; i++) {
		size_t l = v[i].iov_len < n ? v[i].iov_len : n;

		c->raw_flags |= evapi_reqcheck_scan(&c->raw_state,
						    v[i].iov_base, l);
		n -= l;
	}
}

/* 1 when the fast path answered the request in BUF (fastserve.c). */
static int
serve_fast(struct evapi_conns *s, struct conn *c, struct evbuffer *buf)
{
	switch (evapi_fast_serve(&s->fast, c->bev, buf, &c->fast)) {
	case EVAPI_FAST_NO:
		return 0;
	case EVAPI_FAST_CLOSED:
		s->fast_served++;
		/* evhttp freed its connection; the close callback normally
		 * moved C to GONE already. C was attached: it was read from. */
		c->attached = 1;
		to_gone(s, c);
		return 1;
	default:
		s->fast_served++;
		c->fresh = 0;
		set_phase(s, c, PH_IDLE);
		return 1;
	}
}

static void
on_input(struct evbuffer *buf, const struct evbuffer_cb_info *info,
	 void *arg)
{
	struct conn *c = arg;
	struct evapi_conns *s = c->set;

	if (info->n_added == 0 || c->phase == PH_GONE)
		return;
	if (c->attached && !owned(c)) {
		to_gone(s, c);
		return;
	}
	/* These bytes start a request (nothing of it was buffered, and the
	 * last one was answered or there was none): the fast path may take
	 * it whole. Its parser admits no NUL and no folding, and the head
	 * ends with a LF, which is all the raw scan would have noted. */
	if (info->orig_size == 0 && c->raw_flags == 0 &&
	    (c->phase == PH_IDLE || (c->phase == PH_HEAD && c->fresh)) &&
	    serve_fast(s, c, buf)) {
		c->raw_state = 1;
		return;
	}
	if (c->raw_flags == 0)
		scan_added(c, buf, info->n_added);
	c->fresh = 0;
	/* The first bytes of the next request: its head deadline starts. */
	if (c->phase == PH_IDLE)
		set_phase(s, c, PH_HEAD);
}

static void
arm_sweep(struct evapi_conns *s)
{
	struct timeval tv = {0, SWEEP_MS * 1000};

	if (!evtimer_pending(s->sweep_ev, NULL))
		evtimer_add(s->sweep_ev, &tv);
}

/* evhttp's bevcb: one call per accepted connection, descriptor not set. */
static struct bufferevent *
on_accept(struct event_base *base, void *arg)
{
	struct evapi_conns *s = arg;
	struct conn *c;

	/* A connection handed over from the early stage held its slot until
	 * a moment ago: it takes nobody's place. */
	if (!s->capture && s->cap != 0 && s->count >= s->cap &&
	    evict_oldest(s))
		warn_limited(s, WARN_CAP, "connection cap reached: closing "
			     "the oldest idle or incomplete connection",
			     "MAX_CONNECTIONS");
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		goto untracked;
	c->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL)
		goto untracked;
	c->incb = evbuffer_add_cb(bufferevent_get_input(c->bev), on_input, c);
	if (c->incb == NULL)
		goto untracked;
	bufferevent_incref(c->bev);
	c->set = s;
	c->fresh = 1;
	c->phase = PH_HEAD;
	c->since = now_ms();
	q_append(&s->q[PH_HEAD], c);
	s->n[PH_HEAD]++;
	s->count++;
	c->hnext = s->buckets[slot(s, c->bev)];
	s->buckets[slot(s, c->bev)] = c;
	c->pnext = s->pending;
	s->pending = c;
	event_active(s->reap_ev, EV_TIMEOUT, 0);
	arm_sweep(s);
	/* Stop accepting before the cap would be passed: libevent's accept
	 * loop checks the listener after each connection. */
	update_listener(s);
	if (s->capture)
		s->captured = c->bev;
	return c->bev;
untracked:
	/* evhttp then makes its own bufferevent: the connection is served,
	 * only not counted. Happens only when memory runs out. */
	if (c != NULL && c->bev != NULL)
		bufferevent_free(c->bev);
	free(c);
	return NULL;
}

static void
on_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct evapi_conns *s = arg;
	uint64_t now = now_ms();
	struct conn *c, *next;
	int ph;

	(void)fd;
	(void)what;
	/* Fallback for a close callback a plugin replaced. */
	for (ph = PH_HEAD; ph < PH_GONE; ph++)
		for (c = s->q[ph].first; c != NULL; c = next) {
			next = c->next;
			if (c->attached && !owned(c))
				to_gone(s, c);
		}
	/* The queue is ordered by start: only its front can be late. */
	while ((c = s->q[PH_HEAD].first) != NULL &&
	       now - c->since >= s->header_ms) {
		evapi_log(EVAPI_LOG_DEBUG, "request head timeout: closing the "
			  "connection", "listener", s->name, NULL);
		evict(s, c);
	}
	reap(s);
	if (s->count > 0)
		arm_sweep(s);
}

static void
on_accept_error(struct evconnlistener *lev, void *ctx)
{
	int err = EVUTIL_SOCKET_ERROR();
	struct timeval pause = {0, PAUSE_MS * 1000};
	struct evapi_conns *s = NULL;
	size_t i;

	/* The argument is evhttp, or the set once take_accept ran. */
	for (i = 0; i < nsets; i++)
		if (sets[i]->http == ctx || sets[i] == ctx)
			s = sets[i];
	if (s == NULL || s->lev != lev) {
		evconnlistener_disable(lev);
		return;
	}
	/* Out of descriptors (EMFILE/ENFILE) or memory: retrying at once
	 * would spin; the pending connections wait in the kernel backlog. */
	s->paused_err = 1;
	update_listener(s);
	evtimer_add(s->resume_ev, &pause);
	warn_limited(s, WARN_ACCEPT, "accept failed: pausing the listener "
		     "for 200 ms", evutil_socket_error_to_string(err));
}

static void
on_resume(evutil_socket_t fd, short what, void *arg)
{
	struct evapi_conns *s = arg;

	(void)fd;
	(void)what;
	s->paused_err = 0;
	update_listener(s);
}

/* ---- the interface -------------------------------------------------------- */

unsigned long
evapi_conns_fast_served(const struct evapi_conns *s)
{
	return s != NULL ? s->fast_served : 0;
}

unsigned long
evapi_conns_accept_served(const struct evapi_conns *s)
{
	return s != NULL ? s->accept_served : 0;
}

void
evapi_conns_set_fast(struct evapi_conns *s, evapi_fast_fn answer, void *arg,
		     size_t max_head)
{
	s->fast.answer = answer;
	s->fast.arg = arg;
	s->fast.max_head = max_head;
}

unsigned
evapi_conns_request(struct evapi_conns *s, struct evhttp_request *req)
{
	struct conn *c = find_req(s, req);

	if (c == NULL)
		return 0;
	if (c->phase == PH_HEAD || c->phase == PH_IDLE)
		set_phase(s, c, PH_BUSY);
	return c->raw_flags;
}

int
evapi_conns_answered(struct evapi_conns *s, struct evhttp_request *req)
{
	struct conn *c = find_req(s, req);

	if (c == NULL)
		return 0;
	if (c->phase != PH_BUSY)
		return 1;
	/* A pipelined request already started arriving: its head runs. */
	if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
		set_phase(s, c, PH_HEAD);
	else
		set_phase(s, c, PH_IDLE);
	update_listener(s);
	return 1;
}

/* ---- before evhttp: a new connection's first bytes ----------------------- */

/* A connection accepted but not yet given to evhttp, waiting for its first
 * bytes. */
struct early {
	struct early *prev, *next;
	struct evapi_conns *set;
	struct event *ev;
	evutil_socket_t fd;
	int salen;
	struct sockaddr_storage sa;
};

static void
early_unlink(struct evapi_conns *s, struct early *e)
{
	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		s->early = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	s->count--;
	event_free(e->ev);
}

/* Give the connection to evhttp as if it had just been accepted, then the
 * DATA already read, as if just read from the socket: the input callback
 * offers it to the fast path as usual (a keep-alive probe, a big reply),
 * and whatever that leaves goes to evhttp's read callback. */
static void
early_to_evhttp(struct evapi_conns *s, struct early *e, const char *data,
		size_t len)
{
	struct bufferevent *bev;
	struct evbuffer *in;

	early_unlink(s, e);
	s->capture = 1;
	s->captured = NULL;
	s->evhttp_accept(s->lev, e->fd, (struct sockaddr *)&e->sa, e->salen,
			 s->http);
	bev = s->captured;
	s->capture = 0;
	free(e);
	/* evhttp may answer the bytes below and free its connection before
	 * this returns: our close callback must be on it by then, or the
	 * descriptor would never be closed (see to_gone). */
	attach_pending(s);
	/* No bufferevent of ours (out of memory): the bytes are lost, and
	 * evhttp's own timeout ends the connection. */
	if (bev != NULL && len > 0) {
		in = bufferevent_get_input(bev);
		if (evbuffer_add(in, data, len) == 0 &&
		    evbuffer_get_length(in) > 0)
			bufferevent_trigger(bev, EV_READ, 0);
	}
	update_listener(s);
}

static void
on_early_read(evutil_socket_t fd, short what, void *arg)
{
	struct early *e = arg;
	struct evapi_conns *s = e->set;
	char buf[EVAPI_FAST_MAX_HEAD + 1];
	ssize_t n = 0;

	if (what & EV_READ) {
		do
			n = recv(fd, buf, sizeof(buf), 0);
		while (n < 0 && errno == EINTR);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
			/* Gone before it asked anything. */
			early_unlink(s, e);
			evutil_closesocket(fd);
			free(e);
			update_listener(s);
			return;
		}
	}
	if (n > 0 && evapi_fast_serve_new(&s->fast, fd, buf, (size_t)n) ==
			     EVAPI_FAST_CLOSED) {
		s->fast_served++;
		s->accept_served++;
		early_unlink(s, e);
		free(e);
		update_listener(s);
		return;
	}
	/* Not a request to answer and close here, or nothing came within
	 * EARLY_WAIT_MS. */
	early_to_evhttp(s, e, buf, n > 0 ? (size_t)n : 0);
}

/* Every waiting connection goes to evhttp now (the listener is closing, or
 * the fast path was turned off). */
static void
early_flush(struct evapi_conns *s)
{
	while (s->early != NULL)
		early_to_evhttp(s, s->early, NULL, 0);
}

/* The listener's callback: a new connection waits (at most EARLY_WAIT_MS)
 * for its first bytes before evhttp sees it, so that a request the fast
 * path answers and closes never costs evhttp's per-connection work. It
 * counts towards MAX_CONNECTIONS meanwhile. At the cap it goes to evhttp at
 * once: on_accept then makes room by evicting, as before. */
static void
on_accept_new(struct evconnlistener *lev, evutil_socket_t fd,
	      struct sockaddr *sa, int salen, void *arg)
{
	static const struct timeval wait = {0, EARLY_WAIT_MS * 1000};
	struct evapi_conns *s = arg;
	struct early *e = NULL;

	if (!s->early_on || (s->cap != 0 && s->count >= s->cap) ||
	    salen < 0 || (size_t)salen > sizeof(e->sa) ||
	    (e = calloc(1, sizeof(*e))) == NULL)
		goto evhttp;
	e->ev = event_new(s->base, fd, EV_READ, on_early_read, e);
	if (e->ev == NULL || event_add(e->ev, &wait) != 0)
		goto evhttp;
	e->set = s;
	e->fd = fd;
	e->salen = salen;
	memcpy(&e->sa, sa, (size_t)salen);
	e->next = s->early;
	if (s->early != NULL)
		s->early->prev = e;
	s->early = e;
	s->count++;
	update_listener(s);
	return;
evhttp:
	if (e != NULL && e->ev != NULL)
		event_free(e->ev);
	free(e);
	s->evhttp_accept(lev, fd, sa, salen, s->http);
}

/* The start of libevent 2.1's struct evconnlistener (listener.c), where
 * evhttp_bind_listener stores its accept callback and evhttp as its
 * argument. */
struct listener_head {
	const void *ops;
	void *lock;
	evconnlistener_cb cb;
	evconnlistener_errorcb errorcb;
	void *user_data;
};

/* Put on_accept_new in front of evhttp's accept callback. The callback is
 * read from the listener, but only when the two fields next to it hold
 * what evhttp and we just stored there (the error callback and evhttp):
 * any other layout leaves evhttp's callback in place, and connections
 * then all take evhttp's path, which serves them just as well. */
static void
take_accept(struct evapi_conns *s, struct evconnlistener *lev)
{
	struct listener_head h;

	memcpy(&h, lev, sizeof(h));
	if (h.errorcb != on_accept_error || h.user_data != s->http ||
	    h.cb == NULL || h.cb == on_accept_new)
		return;
	s->evhttp_accept = h.cb;
	evconnlistener_set_cb(lev, on_accept_new, s);
}

void
evapi_conns_set_listener(struct evapi_conns *s, struct evconnlistener *lev)
{
	/* Waiting connections are handed over while evhttp's listener (and
	 * with it its accept callback's argument) still exists. */
	if (s->lev != NULL && s->evhttp_accept != NULL)
		early_flush(s);
	s->lev = lev;
	s->lev_enabled = lev != NULL; /* evhttp hands it over enabled */
	if (lev != NULL) {
		evconnlistener_set_error_cb(lev, on_accept_error);
		take_accept(s, lev);
		update_listener(s);
	}
}

void
evapi_conns_set_early(struct evapi_conns *s, int on)
{
	s->early_on = on && s->evhttp_accept != NULL;
	if (!s->early_on && s->lev != NULL && s->evhttp_accept != NULL)
		early_flush(s);
}

static size_t
bucket_count(unsigned long cap)
{
	size_t n = 64;

	while (n < cap && n < ((size_t)1 << 16))
		n <<= 1;
	return n;
}

struct evapi_conns *
evapi_conns_new(struct event_base *base, struct evhttp *http,
		const char *name, unsigned long cap, unsigned header_timeout)
{
	struct evapi_conns *s = calloc(1, sizeof(*s));

	if (s == NULL || nsets == MAX_SETS)
		goto fail;
	s->base = base;
	s->http = http;
	s->name = name;
	s->cap = cap;
	s->header_ms = (uint64_t)header_timeout * 1000;
	s->mask = bucket_count(cap) - 1;
	s->buckets = calloc(s->mask + 1, sizeof(*s->buckets));
	s->reap_ev = event_new(base, -1, 0, on_reap, s);
	s->sweep_ev = evtimer_new(base, on_sweep, s);
	s->resume_ev = evtimer_new(base, on_resume, s);
	if (!s->buckets || !s->reap_ev || !s->sweep_ev || !s->resume_ev)
		goto fail;
	evhttp_set_bevcb(http, on_accept, s);
	sets[nsets++] = s;
	return s;
fail:
	if (s != NULL) {
		free(s->buckets);
		if (s->reap_ev)
			event_free(s->reap_ev);
		if (s->sweep_ev)
			event_free(s->sweep_ev);
		if (s->resume_ev)
			event_free(s->resume_ev);
	}
	free(s);
	return NULL;
}

void
evapi_conns_free(struct evapi_conns *s)
{
	struct conn *c;
	size_t i;
	int ph;

	if (s == NULL)
		return;
	while (s->early != NULL) {
		struct early *e = s->early;

		early_unlink(s, e);
		evutil_closesocket(e->fd);
		free(e);
	}
	for (i = 0; i < nsets; i++)
		if (sets[i] == s)
			sets[i] = sets[--nsets];
	/* evhttp_free() freed every connection normally: none of the
	 * pending ones had its descriptor closed by evhttp. */
	for (c = s->pending; c != NULL; c = c->pnext)
		c->attached = 1;
	s->pending = NULL;
	for (ph = 0; ph < PH_N; ph++)
		while ((c = s->q[ph].first) != NULL) {
			bufferevent_disable(c->bev, EV_READ | EV_WRITE);
			release(s, c);
		}
	event_free(s->reap_ev);
	event_free(s->sweep_ev);
	event_free(s->resume_ev);
	free(s->buckets);
	free(s);
}
