/*
 * accept.h - a new connection, before and as evhttp gets it (accept.c).
 */
#ifndef EVAPI_HTTP_ACCEPT_H
#define EVAPI_HTTP_ACCEPT_H

#include <event2/listener.h>
#include <event2/util.h>

struct evapi_conn;
struct evapi_site;

/* The listener callback of every site (evhttp.c puts it first). */
void evapi_accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
		     struct sockaddr *sa, int salen, void *arg);
/* Give an EARLY connection to evhttp (a bufferevent, DIRECT mode). */
int evapi_accept_adopt(struct evapi_conn *c);
/* New connections wait for their first bytes before evhttp sees them. */
void evapi_accept_set_early(struct evapi_site *s, int on);
/* The drain: stop taking new connections without resetting the ones the
 * kernel already queued (SYNs are dropped, the queue is accepted and
 * answered with Connection: close), then close the listener. GRACE_MS is
 * how long handshakes already under way get to complete. DONE runs once
 * the listener is closed. */
void evapi_accept_close(struct evapi_site *s, unsigned grace_ms,
			void (*done)(struct evapi_site *s));

#endif
