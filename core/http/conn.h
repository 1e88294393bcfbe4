/*
 * conn.h - connections: how each one is tracked (conn.c), read and
 * answered (serve.c), and accepted (accept.c).
 *
 * A site is one listening socket on one event loop, with its evhttp and
 * its connections. The main port has a site per loop; PROBE_PORT has one,
 * on loop 0. Sites of one port share a limit: MAX_CONNECTIONS counts the
 * connections of the whole process (limit.c).
 *
 * A connection is in one mode:
 *   EARLY   accepted; its first bytes are awaited before evhttp sees it,
 *           so a request that closes its connection is answered without
 *           evhttp's per-connection work (accept.c);
 *   DIRECT  evapi reads its requests from the gate and answers them;
 *           evhttp's read callback is held back, evhttp waits for a
 *           request line it never gets;
 *   EVHTTP  evhttp reads a request whose body spans reads or is chunked
 *           (bytes the gate has already passed), then hands it over;
 *   CLOSING its last response leaves, then it is closed (lingering, when
 *           unread bytes could turn the close into a reset).
 * and, for the connection cap and the deadlines, in one phase:
 *   HEAD    a request is arriving: deadline HEADER_TIMEOUT;
 *   BUSY    a handler holds its request;
 *   IDLE    answered; waiting for the next request or writing;
 *   EVICTED shut down by evapi; evhttp has not noticed yet;
 *   GONE    evhttp freed it; released in the next reap round.
 */
#ifndef EVAPI_HTTP_CONN_H
#define EVAPI_HTTP_CONN_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <event2/util.h>

#include "gate.h"
#include "stats/stats.h"

struct event;
struct event_base;
struct evhttp;
struct evhttp_request;
struct evapi_limit;
struct evapi_request;
struct evapi_router;

enum evapi_phase {
	EVAPI_PH_HEAD,
	EVAPI_PH_BUSY,
	EVAPI_PH_IDLE,
	EVAPI_PH_EVICTED,
	EVAPI_PH_GONE,
	EVAPI_PH_N
};

enum evapi_conn_mode {
	EVAPI_CM_EARLY,
	EVAPI_CM_DIRECT,
	EVAPI_CM_EVHTTP,
	EVAPI_CM_CLOSING,
};

struct evapi_conn {
	struct evapi_site *site;
	evutil_socket_t fd;
	struct bufferevent *bev; /* NULL while EARLY */
	void *evcon;             /* evhttp's connection; NULL once freed */
	enum evapi_conn_mode mode;

	/* Tracking (conn.c). */
	enum evapi_phase phase;
	uint64_t since; /* ms: start of the phase */
	struct evapi_conn *prev, *next; /* in site->q[phase] */
	struct evapi_conn *hnext;       /* hash chain, by bufferevent */
	struct evapi_conn *pnext;       /* close callback not installed yet */
	int attached;                   /* evhttp's close callback is ours */
	int evicted;                    /* counted in the port's evictions */
	enum evapi_close_reason why;    /* counted when it closes */

	/* Reading and answering (serve.c). */
	struct evapi_gate gate;
	size_t unfed; /* bytes at the input's end the gate has not read */
	struct evbuffer_cb_entry *incb;
	struct evapi_request *active; /* taken from the gate, not answered */
	int evhttp_busy;  /* a request handed to evhttp is not finished */
	int writing;      /* our response is leaving through the bufferevent */
	int close_after;  /* close once the output is written */
	int linger;       /* ... lingering: unread bytes may follow */
	int in_input;     /* inside a read's input callback */
	int injecting;    /* evapi_serve_inject is adding bytes */
	int advancing;    /* inside advance(): do not recurse */
	int early_done;   /* EARLY: answered; the connection ends */
	size_t prefed;    /* injected bytes the gate read already */
	struct event *gone_ev; /* watches the client while a handler works */
	uint64_t linger_until;

	/* evhttp's bufferevent callbacks, held while evapi reads. */
	bufferevent_data_cb ev_read, ev_write;
	bufferevent_event_cb ev_event;

	/* EARLY: waiting for the first bytes. */
	struct event *early_ev;
	struct evapi_conn *early_prev, *early_next;

	/* The client. */
	struct sockaddr_storage sa;
	int salen;
	char client[48];
	unsigned client_port;
};

/* One listening socket on one loop. */
struct evapi_site {
	const char *name; /* "main", "probe": in log lines */
	int probes_only;  /* PROBE_PORT: only routes flagged probe */
	/* Its loop's counters (NULL: none) and its listener label. */
	struct evapi_loop_stats *stats;
	enum evapi_listener_kind listener;
	uint64_t idle_ms; /* IDLE_TIMEOUT (evhttp's timeout) */
	unsigned loop_index;
	struct evapi_loop *loop;
	struct event_base *base;
	struct evhttp *http;
	struct evconnlistener *lev;
	evconnlistener_cb evhttp_accept; /* NULL: evhttp's stays in place */
	const struct evapi_router *router;
	struct evapi_limit *limit;
	struct evapi_gate_limits glim;
	uint64_t header_ms;
	int early_on; /* new connections wait in EARLY */

	/* Connections. */
	unsigned long n[EVAPI_PH_N];
	struct {
		struct evapi_conn *first, *last;
	} q[EVAPI_PH_N];
	struct evapi_conn **buckets;
	size_t mask;
	struct evapi_conn *pending; /* close callback not installed yet */
	struct evapi_conn *early;   /* EARLY connections */
	unsigned long early_n;
	int capture;                /* on_bev: hand the new bufferevent ... */
	struct evapi_conn *captured; /* ... to this connection */
	unsigned long count;        /* descriptors of this site that are open */

	/* Listener state. */
	atomic_ulong evict_asked; /* evictions other loops asked of this one */
	atomic_int waiting_room;  /* the listener waits for the cap to allow */
	uint64_t published_oldest;
	int lev_enabled;
	int paused_err;
	struct event *reap_ev, *sweep_ev, *resume_ev, *evict_ev, *wake_ev;
	uint64_t warned_at[2];
	unsigned long unwarned[2];

	/* Requests answered, by path. */
	unsigned long served_direct, served_early, served_evhttp;
	unsigned long inflight; /* taken by a handler, not answered */
	/* Called (on the loop) when inflight drops to 0 while closing. */
	void (*idle_cb)(void *arg);
	void *idle_arg;
};

/* ---- conn.c: tracking ---------------------------------------------------- */

struct evapi_site *evapi_site_new(struct event_base *base, struct evhttp *http,
				  const char *name, struct evapi_limit *limit,
				  unsigned header_timeout);
/* After evhttp_free() of the site's evhttp: releases what is left. */
void evapi_site_abandon(struct evapi_site *s);
void evapi_site_free(struct evapi_site *s);
/* The listener to pause and resume; NULL once closed (the drain). */
void evapi_site_set_listener(struct evapi_site *s, struct evconnlistener *lev);
/* Re-evaluate whether the listener may accept. */
void evapi_site_update_listener(struct evapi_site *s);

struct evapi_conn *evapi_conn_new(struct evapi_site *s, evutil_socket_t fd,
				  const struct sockaddr *sa, int salen);
/* The connection's bufferevent exists (created for evhttp). */
void evapi_conn_track(struct evapi_conn *c, struct bufferevent *bev);
struct evapi_conn *evapi_conn_find(const struct evapi_site *s,
				   const struct bufferevent *bev);
void evapi_conn_phase(struct evapi_conn *c, enum evapi_phase ph);
/* evhttp freed the connection: release it in the reap round. */
void evapi_conn_gone(struct evapi_conn *c);
/* An EARLY connection ends without evhttp: close and forget it. */
void evapi_conn_drop_early(struct evapi_conn *c);
/* Install the close callback on connections evhttp just accepted. */
void evapi_site_attach_pending(struct evapi_site *s);
/* Evict the oldest HEAD or IDLE connection; 0 when there is none. */
int evapi_site_evict_oldest(struct evapi_site *s);
/* accept() failed with ERR (out of descriptors): pause the listener. */
void evapi_site_accept_error(struct evapi_site *s, int err);
/* Deadlines are checked while the site has connections. */
void evapi_site_arm_sweep(struct evapi_site *s);

/* ---- serve.c: reading and answering ------------------------------------- */

/* A bufferevent was made for C (EARLY handed over, or evhttp's accept):
 * watch its input, take evhttp's callbacks, read in DIRECT mode. */
void evapi_serve_start(struct evapi_conn *c);
/* Bytes that came before the handover (EARLY), as if just read. */
void evapi_serve_inject(struct evapi_conn *c, const char *data, size_t n);
/* evhttp read a whole request (the EVHTTP mode): answer it. */
void evapi_serve_evhttp_request(struct evapi_site *s,
				struct evhttp_request *ev);
/* evhttp is freeing the connection: the request a handler holds loses it
 * (its body is kept) and learns the client is gone. */
void evapi_serve_lost(struct evapi_conn *c);
/* The connection is being released: forget its requests. */
void evapi_serve_release(struct evapi_conn *c);

/* ---- limit.c: the cap of a port, over every loop ------------------------- */

struct evapi_limit *evapi_limit_new(unsigned long cap);
void evapi_limit_free(struct evapi_limit *l);
void evapi_limit_add_site(struct evapi_limit *l, struct evapi_site *s);
/* A connection was accepted on S: evicts the oldest evictable connection
 * of the whole port when this one is above the cap. */
void evapi_limit_accepted(struct evapi_limit *l, struct evapi_site *s);
/* A connection of S closed. */
void evapi_limit_closed(struct evapi_limit *l, struct evapi_site *s);
/* May a listener of the port accept now? */
int evapi_limit_may_accept(const struct evapi_limit *l);
/* S's listener waits for room (or not any more). */
void evapi_limit_pause(struct evapi_limit *l, struct evapi_site *s,
		       int paused);
/* Listeners waiting for room check again (each on its loop). */
void evapi_limit_wake(struct evapi_limit *l);
/* An eviction asked for is over (its descriptor closed) or impossible. */
void evapi_limit_eviction_done(struct evapi_limit *l);
/* S's oldest evictable connection changed (or there is none: 0). */
void evapi_limit_oldest(struct evapi_limit *l, struct evapi_site *s,
			uint64_t since);
unsigned long evapi_limit_open(const struct evapi_limit *l);
unsigned long evapi_limit_cap(const struct evapi_limit *l);

#endif
