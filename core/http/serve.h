/*
 * serve.h - between a connection and its requests: what dispatch.c and
 * respond.c call on the connection side (serve.c).
 */
#ifndef EVAPI_HTTP_SERVE_H
#define EVAPI_HTTP_SERVE_H

#include <stddef.h>

struct evapi_request;
struct evapi_rheader;

/* One response, ready to be written. */
struct evapi_response {
	int status;
	const char *content_type;
	const void *body;
	size_t len;      /* what Content-Length says (HEAD too), NL included */
	int nl;          /* a newline follows BODY (JSON the host wrote) */
	int send_body;   /* 0: HEAD, 204, 304 */
	int body_static; /* BODY outlives every connection: sent by reference */
	int close;       /* the connection ends after it */
};

/* Write R for REQ on whatever path REQ came by, and end REQ (it is freed
 * or pooled before this returns). */
void evapi_serve_respond(struct evapi_request *req,
			 const struct evapi_response *r);
/* The handler returned: if it deferred, watch the client meanwhile. */
void evapi_serve_handler_returned(struct evapi_request *req);

/* Server-wide state the answers depend on (set by the server). */
extern volatile int evapi_http_draining; /* answers close connections */
extern volatile int evapi_http_stopped;  /* no handler may run any more */

#endif
