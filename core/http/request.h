/*
 * request.h - the request object: what the gate read, the route it
 * matched, its body, and the response being built. Plugins see it only
 * through the accessors of plugin.h (request.c, respond.c).
 *
 * Requests come from a per-thread pool and keep their buffers' capacity
 * between uses, so a request on a kept-alive connection allocates nothing
 * once the pool is warm. Strings made for a request (decoded parameters,
 * response headers) live in its arena and go with it.
 */
#ifndef EVAPI_HTTP_REQUEST_H
#define EVAPI_HTTP_REQUEST_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <evapi/plugin.h>

#include "decode.h"
#include "gate.h"
#include "reqid.h"
#include "route.h"

struct evapi_conn;
struct evapi_site;
struct evhttp_request;
struct json_object;

/* A bump allocator: a first block inside the request, more from malloc. */
struct evapi_arena {
	char first[1024];
	char *cur;
	size_t left;
	void *extra; /* chain of malloc'd blocks, each starting with a link */
};

/* A response header the plugin added. */
struct evapi_rheader {
	const char *name, *value;
	struct evapi_rheader *next;
};

/* Request flags. */
#define EVAPI_RQ_DEFERRED 0x01u /* a handler kept it (evapi_defer) */
#define EVAPI_RQ_GONE 0x02u     /* the client went away */
#define EVAPI_RQ_ANSWERED 0x04u /* a response was given */
#define EVAPI_RQ_IN_HANDLER 0x08u
#define EVAPI_RQ_EARLY 0x10u    /* read before evhttp saw the connection */
#define EVAPI_RQ_CLIENT 0x20u   /* client and client_port are filled in */

struct evapi_request {
	struct evapi_msg msg; /* the head; first member (gate.c casts) */

	struct evapi_conn *conn;       /* NULL once the connection is gone */
	struct evapi_site *site; /* the listener it came through */
	evapi_loop *loop;
	struct evhttp_request *ev; /* evhttp's, when evhttp read the body */
	unsigned flags;
	uint64_t start_ns;
	const char *request_id; /* the client's (in the head) or RID */
	unsigned route;         /* its route slot for the counters */

	/* The body: a copy (direct path) or evhttp's buffer. */
	const char *body;
	size_t body_len;
	char *body_copy;
	size_t body_cap;
	struct json_object *json;

	/* Routing. */
	struct evapi_match match;
	const char *params[EVAPI_MAX_PARAMS];
	const char *path;  /* NUL-terminated, still encoded */
	char *decoded_path;
	struct evapi_qpair *query;
	size_t nquery;


	/* The response being built. */
	struct evapi_rheader *rheaders, *rheaders_last;
	int status;
	void (*on_gone)(evapi_request *req, void *arg);
	void *gone_arg;

	struct evapi_arena arena;
	struct evapi_request *pool_next;

	/* Not cleared between requests: set for each one (set_peer). The
	 * client's address, as text only when asked for (access log,
	 * plugin): formatting it costs more than the rest of a probe. */
	struct sockaddr_storage peer;
	socklen_t peerlen;
	char client[48];
	unsigned client_port;
	char rid[EVAPI_REQID_BUF]; /* a request id made for it */
};

/* A request from this thread's pool (or malloc); NULL when out of memory.
 * The gate allocates through evapi_msg_alloc / evapi_msg_release. */
struct evapi_request *evapi_request_new(void);
void evapi_request_free(struct evapi_request *req);
struct evapi_msg *evapi_msg_alloc(void *arg);
void evapi_msg_release(struct evapi_msg *m, void *arg);
/* Return the calling thread's pooled requests to libc (at thread end). */
void evapi_request_pool_flush(void);

static inline struct evapi_request *
evapi_request_of(struct evapi_msg *m)
{
	return (struct evapi_request *)m;
}

/* Arena memory for REQ, NULL when out of memory; and a copy of S. */
void evapi_request_set_peer(struct evapi_request *req,
			    const struct sockaddr_storage *sa, int salen);
void evapi_request_fill_client(struct evapi_request *req);
void *evapi_arena_alloc(struct evapi_request *req, size_t n);
char *evapi_arena_strndup(struct evapi_request *req, const char *s,
			  size_t n);

/* Give the request its body: LEN bytes, copied (the direct path), or
 * borrowed from evhttp until the request ends. EVAPI_ERR when out of
 * memory. */
int evapi_request_set_body(struct evapi_request *req, const char *data,
			   size_t len, int copy);
/* Decode what routing found: the path, its parameters, the query. 0, or
 * the status to refuse with (400) and *WHY. */
int evapi_request_prepare(struct evapi_request *req, const char **why);

#endif
