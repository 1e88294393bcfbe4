/*
 * fastserve.h - answer a request head from a connection's input callback,
 * without evhttp (the fast path; fastpath.h has the parser).
 *
 * conns.c calls evapi_fast_serve when the bytes just read start a new
 * request on a connection evhttp is reading from. evhttp never sees a
 * request served here: its connection stays in the state "waiting for a
 * request line", which is the state it returns to after any reply.
 */
#ifndef EVAPI_FASTSERVE_H
#define EVAPI_FASTSERVE_H

#include <stddef.h>

#include <event2/bufferevent.h>
#include <event2/util.h>

struct evbuffer;
struct evbuffer_cb_entry;
struct evapi_body;
struct evapi_fastreq;

/* The answer to a parsed head (its body, and *STATUS), or NULL to let
 * evhttp take the request. */
typedef const struct evapi_body *(*evapi_fast_fn)(void *arg,
						 const struct evapi_fastreq *r,
						 int *status);

/* One listener's fast path. */
struct evapi_fast {
	evapi_fast_fn answer;
	void *arg;
	size_t max_head; /* MAX_HEADER_SIZE: longer heads go to evhttp */
};

/* One connection's state, zeroed when it is accepted. */
struct evapi_fast_conn {
	struct bufferevent *bev;
	struct evbuffer_cb_entry *outcb; /* watches a reply still leaving */
	bufferevent_data_cb readcb;      /* evhttp's, while it is held */
	int close;                       /* close once the reply is out */
};

enum evapi_fast_result {
	EVAPI_FAST_NO,      /* not served: evhttp takes the bytes */
	EVAPI_FAST_KEPT,    /* answered; the connection waits for the next */
	EVAPI_FAST_CLOSED,  /* answered; evhttp's connection is freed */
	EVAPI_FAST_PENDING, /* answered in part; the rest is queued */
};

enum evapi_fast_result evapi_fast_serve(const struct evapi_fast *f,
					struct bufferevent *bev,
					struct evbuffer *in,
					struct evapi_fast_conn *fc);
/* The first bytes (DATA, LEN) read from a connection evhttp has not seen
 * yet: when they are one head in the subset that closes the connection,
 * with a small answer, send it and close FD (EVAPI_FAST_CLOSED). Otherwise
 * nothing is sent (EVAPI_FAST_NO) and evhttp must take the bytes. */
enum evapi_fast_result evapi_fast_serve_new(const struct evapi_fast *f,
					    evutil_socket_t fd,
					    const char *data, size_t len);
/* Before the connection's bufferevent is released. */
void evapi_fast_conn_release(struct evapi_fast_conn *fc);

#endif /* EVAPI_FASTSERVE_H */
