/*
 * conns.h - connection accounting for one evhttp: a cap on concurrent
 * connections, a total deadline for each request head, and a pause of the
 * listener (not a busy loop) when accept() fails with EMFILE or ENFILE.
 *
 * libevent 2.1.12 has none of these. See conns.c for how they are built on
 * its public API only.
 */
#ifndef EVAPI_CONNS_H
#define EVAPI_CONNS_H

#include "fastserve.h"

struct event_base;
struct evhttp;
struct evhttp_request;
struct evconnlistener;
struct evapi_conns;

/* NAME labels log lines ("main", "probe"). CAP: most connections at once
 * (0: no cap). HEADER_TIMEOUT: seconds a request head may take. */
struct evapi_conns *evapi_conns_new(struct event_base *base,
				    struct evhttp *http, const char *name,
				    unsigned long cap,
				    unsigned header_timeout);
/* After evhttp_free() of its evhttp: releases what is still tracked. */
void evapi_conns_free(struct evapi_conns *s);
/* The listener to pause and resume; NULL once it is closed (drain). */
void evapi_conns_set_listener(struct evapi_conns *s,
			      struct evconnlistener *lev);
/* The gencb got a complete request / a reply to it is being sent.
 * request returns the EVAPI_RAW_* flags (reqcheck.h) of the bytes the
 * connection received; answered returns 0 when REQ's connection is not
 * one of S's. */
unsigned evapi_conns_request(struct evapi_conns *s,
			     struct evhttp_request *req);
int evapi_conns_answered(struct evapi_conns *s, struct evhttp_request *req);
/* Serve request heads that ANSWER has a request-free answer for straight
 * from the input (fastserve.h); heads over MAX_HEAD bytes go to evhttp. */
void evapi_conns_set_fast(struct evapi_conns *s, evapi_fast_fn answer,
			  void *arg, size_t max_head);
/* Requests the fast path answered so far. */
unsigned long evapi_conns_fast_served(const struct evapi_conns *s);
/* New connections wait (briefly) for their first bytes before evhttp sees
 * them, so the fast path can answer a new connection's request without
 * evhttp (set after evapi_conns_set_listener; off when the fast path is,
 * e.g. with the access log). */
void evapi_conns_set_early(struct evapi_conns *s, int on);
/* Of those, the ones answered before evhttp saw the connection. */
unsigned long evapi_conns_accept_served(const struct evapi_conns *s);

#endif /* EVAPI_CONNS_H */
