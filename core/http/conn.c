/*
 * conn.c - how connections are tracked: the phases, the connection cap,
 * the request-head deadline and the accept() backoff, for evhttp 2.1,
 * which has none of them and no connection hooks.
 *
 * How a connection's descriptor is known to be its own, with public
 * libevent API only: evhttp asks the site for each connection's
 * bufferevent (evhttp_set_bevcb, evhttp.c). The site creates it with
 * BEV_OPT_CLOSE_ON_FREE and keeps a reference, so evhttp freeing its
 * connection only drops evhttp's reference: the descriptor stays open, and
 * belongs to that connection, until the reap round here drops the last
 * reference. So a tracked connection's descriptor may always be shut down;
 * that is what the deadline and the cap need.
 *
 * Each phase is a queue ordered by the phase's start, so only a queue's
 * front can be late or the oldest.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include "util/clock.h"
#include "conn.h"
#include "util/log.h"

#define SWEEP_MS 250        /* deadline resolution */
#define PAUSE_MS 200        /* listener pause after EMFILE/ENFILE */
#define WARN_EVERY_MS 10000 /* at most one warning line per reason */
#define EVICT_GRACE_MS 1000 /* an evicted connection gets this long */

enum { WARN_ACCEPT, WARN_CAP };

/* ---- lookup by bufferevent ----------------------------------------------- */

static size_t
slot(const struct evapi_site *s, const struct bufferevent *bev)
{
	uint64_t h = (uint64_t)(uintptr_t)bev;

	h ^= h >> 17;
	h *= 0x9E3779B97F4A7C15ULL;
	return (size_t)(h >> 32) & s->mask;
}

struct evapi_conn *
evapi_conn_find(const struct evapi_site *s, const struct bufferevent *bev)
{
	struct evapi_conn *c;

	if (s == NULL || bev == NULL)
		return NULL;
	for (c = s->buckets[slot(s, bev)]; c != NULL; c = c->hnext)
		if (c->bev == bev)
			return c;
	return NULL;
}

static void
unhash(struct evapi_site *s, struct evapi_conn *c)
{
	struct evapi_conn **p = &s->buckets[slot(s, c->bev)];

	while (*p != NULL && *p != c)
		p = &(*p)->hnext;
	if (*p != NULL)
		*p = c->hnext;
}

/* ---- phases ---------------------------------------------------------------- */

static void
q_append(struct evapi_site *s, enum evapi_phase ph, struct evapi_conn *c)
{
	c->prev = s->q[ph].last;
	c->next = NULL;
	if (s->q[ph].last != NULL)
		s->q[ph].last->next = c;
	else
		s->q[ph].first = c;
	s->q[ph].last = c;
	s->n[ph]++;
}

static void
q_remove(struct evapi_site *s, enum evapi_phase ph, struct evapi_conn *c)
{
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		s->q[ph].first = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	else
		s->q[ph].last = c->prev;
	c->prev = c->next = NULL;
	s->n[ph]--;
}

/* Tell the port's limit when this loop's oldest evictable connection
 * changed: only a change costs an atomic store. */
static void
publish_oldest(struct evapi_site *s)
{
	const struct evapi_conn *h = s->q[EVAPI_PH_HEAD].first;
	const struct evapi_conn *i = s->q[EVAPI_PH_IDLE].first;
	uint64_t t = 0;

	if (h != NULL)
		t = h->since;
	if (i != NULL && (t == 0 || i->since < t))
		t = i->since;
	if (t == 0 && (h != NULL || i != NULL))
		t = 1;
	if (t != s->published_oldest && s->limit != NULL) {
		s->published_oldest = t;
		evapi_limit_oldest(s->limit, s, t);
	}
}

void
evapi_conn_phase(struct evapi_conn *c, enum evapi_phase ph)
{
	struct evapi_site *s = c->site;

	q_remove(s, c->phase, c);
	c->phase = ph;
	c->since = evapi_now_ms();
	q_append(s, ph, c);
	publish_oldest(s);
}

/* ---- the listener ---------------------------------------------------------- */

static void
warn_limited(struct evapi_site *s, int which, const char *msg,
	     const char *why)
{
	uint64_t now = evapi_now_ms();
	char n[24];

	s->unwarned[which]++;
	if (s->warned_at[which] != 0 &&
	    now - s->warned_at[which] < WARN_EVERY_MS)
		return;
	snprintf(n, sizeof(n), "%lu", s->unwarned[which]);
	evapi_core_log(EVAPI_LOG_WARN, msg, "listener", s->name, "reason", why,
		       "events", n, NULL);
	s->warned_at[which] = now;
	s->unwarned[which] = 0;
}

/* The listener runs iff it is open, not backing off, and the port's cap
 * allows one more. Only a change costs a system call. */
void
evapi_site_update_listener(struct evapi_site *s)
{
	int room = s->limit == NULL || evapi_limit_may_accept(s->limit);
	int want = s->lev != NULL && !s->paused_err && room;

	if (s->limit != NULL)
		evapi_limit_pause(s->limit, s, s->lev != NULL && !room);
	if (s->lev == NULL || want == s->lev_enabled)
		return;
	if (want)
		evconnlistener_enable(s->lev);
	else
		evconnlistener_disable(s->lev);
	s->lev_enabled = want;
}

void
evapi_site_set_listener(struct evapi_site *s, struct evconnlistener *lev)
{
	s->lev = lev;
	s->lev_enabled = lev != NULL; /* evhttp hands it over enabled */
	evapi_site_update_listener(s);
}

/* ---- connections ----------------------------------------------------------- */

struct evapi_conn *
evapi_conn_new(struct evapi_site *s, evutil_socket_t fd,
	       const struct sockaddr *sa, int salen)
{
	struct evapi_conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->site = s;
	c->fd = fd;
	c->mode = EVAPI_CM_EARLY;
	if (sa != NULL && salen > 0 && (size_t)salen <= sizeof(c->sa)) {
		memcpy(&c->sa, sa, (size_t)salen);
		c->salen = salen;
	}
	c->phase = EVAPI_PH_HEAD;
	c->since = evapi_now_ms();
	s->count++;
	if (s->stats != NULL)
		evapi_stat_add(&s->stats->accepted[s->listener], 1);
	if (s->limit != NULL)
		evapi_limit_accepted(s->limit, s);
	return c;
}

void
evapi_conn_track(struct evapi_conn *c, struct bufferevent *bev)
{
	struct evapi_site *s = c->site;

	c->bev = bev;
	bufferevent_incref(bev);
	c->hnext = s->buckets[slot(s, bev)];
	s->buckets[slot(s, bev)] = c;
	c->pnext = s->pending;
	s->pending = c;
	c->since = evapi_now_ms();
	q_append(s, EVAPI_PH_HEAD, c);
	publish_oldest(s);
	event_active(s->reap_ev, EV_TIMEOUT, 0);
}

static void
closed(struct evapi_site *s, enum evapi_close_reason why)
{
	if (s->stats != NULL)
		evapi_stat_add(&s->stats->closed[s->listener][why], 1);
	s->count--;
	if (s->limit != NULL)
		evapi_limit_closed(s->limit, s);
}

void
evapi_conn_drop_early(struct evapi_conn *c)
{
	struct evapi_site *s = c->site;

	if (c->fd >= 0)
		evutil_closesocket(c->fd);
	if (c->early_ev != NULL)
		event_free(c->early_ev);
	evapi_serve_release(c);
	closed(s, c->why);
	free(c);
	evapi_site_update_listener(s);
}

void
evapi_conn_gone(struct evapi_conn *c)
{
	struct evapi_site *s = c->site;

	if (c->phase == EVAPI_PH_GONE)
		return;
	/* evhttp closes a connection idle (or writing nothing) for
	 * IDLE_TIMEOUT without telling why when it reads itself; serve.c
	 * marks the timeouts it sees. */
	if (c->why == EVAPI_CLOSE_OTHER && s->idle_ms > 0 &&
	    (c->phase == EVAPI_PH_IDLE || c->phase == EVAPI_PH_HEAD) &&
	    evapi_now_ms() - c->since >= s->idle_ms)
		c->why = EVAPI_CLOSE_IDLE_TIMEOUT;
	evapi_serve_lost(c);
	c->evcon = NULL;
	/* Not attached yet and already dropped: evhttp gave up on it inside
	 * the accept (out of memory) and may have closed the descriptor
	 * itself, so ours must not close it again. */
	if (!c->attached)
		bufferevent_setfd(c->bev, -1);
	/* Whatever arrives now would pile up in a buffer nobody reads. */
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	evapi_conn_phase(c, EVAPI_PH_GONE);
	event_active(s->reap_ev, EV_TIMEOUT, 0);
}

/* evhttp still uses the bufferevent: it clears every callback when it
 * frees its connection, and never before. */
static int
owned(const struct evapi_conn *c)
{
	bufferevent_event_cb ecb = NULL;
	void *arg = NULL;

	bufferevent_getcb(c->bev, NULL, NULL, &ecb, &arg);
	return ecb != NULL || arg != NULL;
}

static void
on_close(struct evhttp_connection *evcon, void *arg)
{
	(void)evcon;
	evapi_conn_gone(arg);
}

/* Install the close callback on connections accepted since the last
 * round: evhttp sets its connection as the bufferevent's callback argument
 * after the bevcb returned. */
void
evapi_site_attach_pending(struct evapi_site *s)
{
	struct evapi_conn *c, *next;
	void *evcon;

	for (c = s->pending; c != NULL; c = next) {
		next = c->pnext;
		c->pnext = NULL;
		if (c->phase == EVAPI_PH_GONE || c->attached)
			continue;
		evcon = NULL;
		bufferevent_getcb(c->bev, NULL, NULL, NULL, &evcon);
		if (evcon == NULL) {
			evapi_conn_gone(c);
			continue;
		}
		evhttp_connection_set_closecb(evcon, on_close, c);
		c->evcon = evcon;
		c->attached = 1;
		if (c->fd < 0) {
			/* evhttp accepted it itself (no early stage). */
			c->fd = bufferevent_getfd(c->bev);
			c->salen = sizeof(c->sa);
			if (getpeername(c->fd, (struct sockaddr *)&c->sa,
					(socklen_t *)&c->salen) != 0)
				c->salen = 0;
		}
		/* The gate reads before the first byte evhttp could. */
		if (c->incb == NULL)
			evapi_serve_start(c);
	}
	s->pending = NULL;
}

static void
release(struct evapi_site *s, struct evapi_conn *c)
{
	unhash(s, c);
	q_remove(s, c->phase, c);
	if (c->evicted && s->limit != NULL)
		evapi_limit_eviction_done(s->limit);
	evapi_serve_release(c);
	if (c->gone_ev != NULL)
		event_free(c->gone_ev);
	/* The last reference: libevent closes the socket (CLOSE_ON_FREE). */
	bufferevent_decref(c->bev);
	closed(s, c->why);
	free(c);
}

static void
reap(struct evapi_site *s)
{
	struct evapi_conn *c;
	int any = 0;

	evapi_site_attach_pending(s);
	while ((c = s->q[EVAPI_PH_GONE].first) != NULL) {
		release(s, c);
		any = 1;
	}
	publish_oldest(s);
	/* A descriptor was just closed: accept() can succeed again. */
	if (any && s->paused_err) {
		s->paused_err = 0;
		evtimer_del(s->resume_ev);
	}
	evapi_site_update_listener(s);
}

static void
on_reap(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	reap(arg);
}

/* ---- eviction -------------------------------------------------------------- */

/* Shut C's socket down; evhttp sees EOF and frees its connection, which
 * brings C to GONE. The descriptor is C's own: see the top of the file. */
static void
evict(struct evapi_site *s, struct evapi_conn *c, int counted)
{
	evutil_socket_t fd = bufferevent_getfd(c->bev);

	c->evicted = counted;
	c->why = counted ? EVAPI_CLOSE_CAP : EVAPI_CLOSE_HEADER_TIMEOUT;
	if (!owned(c) || fd < 0) {
		evapi_conn_gone(c);
		return;
	}
	shutdown(fd, SHUT_RDWR);
	evapi_conn_phase(c, EVAPI_PH_EVICTED);
	(void)s;
}

static struct evapi_conn *
oldest_evictable(struct evapi_site *s)
{
	struct evapi_conn *h = s->q[EVAPI_PH_HEAD].first;
	struct evapi_conn *i = s->q[EVAPI_PH_IDLE].first;

	if (h != NULL && (i == NULL || h->since <= i->since))
		return h;
	return i;
}

int
evapi_site_evict_oldest(struct evapi_site *s)
{
	struct evapi_conn *c = oldest_evictable(s);

	if (c == NULL)
		return 0;
	warn_limited(s, WARN_CAP,
		     "connection cap reached: closing the oldest idle or "
		     "incomplete connection",
		     "MAX_CONNECTIONS");
	evict(s, c, 1);
	return 1;
}

/* Another loop accepted a connection above the cap, and this loop holds
 * the oldest one. */
static void
on_evict(evutil_socket_t fd, short what, void *arg)
{
	struct evapi_site *s = arg;
	unsigned long n = atomic_exchange(&s->evict_asked, 0);

	(void)fd;
	(void)what;
	while (n-- > 0)
		if (!evapi_site_evict_oldest(s) && s->limit != NULL)
			evapi_limit_eviction_done(s->limit);
}

static void
on_wake(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	evapi_site_update_listener(arg);
}

/* ---- deadlines --------------------------------------------------------------- */

static void
arm_sweep(struct evapi_site *s)
{
	struct timeval tv = {0, SWEEP_MS * 1000};

	if (!evtimer_pending(s->sweep_ev, NULL))
		evtimer_add(s->sweep_ev, &tv);
}

static void
on_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct evapi_site *s = arg;
	uint64_t now = evapi_now_ms();
	struct evapi_conn *c, *next;
	int ph;

	(void)fd;
	(void)what;
	/* Fallback for a close callback a plugin replaced. */
	for (ph = EVAPI_PH_HEAD; ph < EVAPI_PH_GONE; ph++)
		for (c = s->q[ph].first; c != NULL; c = next) {
			next = c->next;
			if (c->attached && !owned(c))
				evapi_conn_gone(c);
		}
	while ((c = s->q[EVAPI_PH_HEAD].first) != NULL &&
	       now - c->since >= s->header_ms) {
		evapi_core_log(EVAPI_LOG_DEBUG, "request head timeout: closing "
			       "the connection", "listener", s->name, NULL);
		evict(s, c, 0);
	}
	/* An evicted connection evhttp does not free (it is not reading):
	 * freed here, so that it never holds the cap. */
	while ((c = s->q[EVAPI_PH_EVICTED].first) != NULL &&
	       now - c->since >= EVICT_GRACE_MS) {
		if (c->evcon != NULL)
			evhttp_connection_free(c->evcon);
		else
			evapi_conn_gone(c);
	}
	reap(s);
	if (s->count > 0)
		arm_sweep(s);
}

void
evapi_site_arm_sweep(struct evapi_site *s)
{
	arm_sweep(s);
}

/* ---- accept errors --------------------------------------------------------------- */

static void
on_resume(evutil_socket_t fd, short what, void *arg)
{
	struct evapi_site *s = arg;

	(void)fd;
	(void)what;
	s->paused_err = 0;
	evapi_site_update_listener(s);
}

void
evapi_site_accept_error(struct evapi_site *s, int err)
{
	struct timeval pause = {0, PAUSE_MS * 1000};

	/* Out of descriptors (EMFILE/ENFILE) or memory: retrying at once
	 * would spin; the pending connections wait in the kernel backlog. */
	s->paused_err = 1;
	evapi_site_update_listener(s);
	evtimer_add(s->resume_ev, &pause);
	warn_limited(s, WARN_ACCEPT, "accept failed: pausing the listener "
		     "for 200 ms", evutil_socket_error_to_string(err));
}

/* ---- the site ---------------------------------------------------------------------- */

static size_t
bucket_count(unsigned long cap)
{
	size_t n = 64;

	while (n < cap && n < ((size_t)1 << 16))
		n <<= 1;
	return n;
}

struct evapi_site *
evapi_site_new(struct event_base *base, struct evhttp *http, const char *name,
	       struct evapi_limit *limit, unsigned header_timeout)
{
	struct evapi_site *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->base = base;
	s->http = http;
	s->name = name;
	s->limit = limit;
	s->header_ms = (uint64_t)header_timeout * 1000;
	s->mask = bucket_count(limit ? evapi_limit_cap(limit) : 1024) - 1;
	s->buckets = calloc(s->mask + 1, sizeof(*s->buckets));
	s->reap_ev = event_new(base, -1, 0, on_reap, s);
	s->sweep_ev = evtimer_new(base, on_sweep, s);
	s->resume_ev = evtimer_new(base, on_resume, s);
	s->evict_ev = event_new(base, -1, 0, on_evict, s);
	s->wake_ev = event_new(base, -1, 0, on_wake, s);
	if (!s->buckets || !s->reap_ev || !s->sweep_ev || !s->resume_ev ||
	    !s->evict_ev || !s->wake_ev) {
		evapi_site_free(s);
		return NULL;
	}
	if (limit != NULL)
		evapi_limit_add_site(limit, s);
	return s;
}

/* At teardown, before the plugins end: a request a handler still holds is
 * lost now, so its gone callback runs while its plugin is loaded; freeing
 * the connection later then calls nothing. */
void
evapi_site_abandon(struct evapi_site *s)
{
	struct evapi_conn *c;
	int ph;

	if (s == NULL)
		return;
	for (ph = 0; ph < EVAPI_PH_N; ph++)
		for (c = s->q[ph].first; c != NULL; c = c->next)
			evapi_serve_lost(c);
}

void
evapi_site_free(struct evapi_site *s)
{
	struct evapi_conn *c;
	int ph;

	if (s == NULL)
		return;
	while (s->early != NULL)
		evapi_conn_drop_early(s->early);
	/* evhttp_free() freed every connection normally: none of the
	 * pending ones had its descriptor closed by evhttp. */
	for (c = s->pending; c != NULL; c = c->pnext)
		c->attached = 1;
	s->pending = NULL;
	for (ph = 0; ph < EVAPI_PH_N; ph++)
		while ((c = s->q[ph].first) != NULL) {
			bufferevent_disable(c->bev, EV_READ | EV_WRITE);
			release(s, c);
		}
	if (s->reap_ev)
		event_free(s->reap_ev);
	if (s->sweep_ev)
		event_free(s->sweep_ev);
	if (s->resume_ev)
		event_free(s->resume_ev);
	if (s->evict_ev)
		event_free(s->evict_ev);
	if (s->wake_ev)
		event_free(s->wake_ev);
	free(s->buckets);
	free(s);
}
