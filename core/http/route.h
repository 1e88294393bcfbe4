/*
 * route.h - which handler answers a request: exact paths and patterns with
 * {name} segments, matched on the path as the client sent it (still
 * percent-encoded: "/%68ealth" is not "/health"), per method.
 *
 * Routes with the same shape ("/items/{id}" and "/items/{key}" have the
 * shape "/items/{}") form one path; each method of a path belongs to one
 * handler. The path that matches best wins: an exact path over any
 * pattern, then, segment by segment from the left, a literal over a
 * {name}. Its methods decide between the handler, 405 with Allow, and
 * OPTIONS; a lower-ranked path never takes over a method.
 *
 * Built at start (init), then read-only: every loop reads it unlocked.
 */
#ifndef EVAPI_HTTP_ROUTE_H
#define EVAPI_HTTP_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#include <evapi/plugin.h>

#define EVAPI_MAX_PARAMS 16
#define EVAPI_PATTERN_MAX 256

/* One method of a path. */
struct evapi_slot {
	evapi_handler_fn handler;
	void *arg;
	unsigned flags;     /* EVAPI_ROUTE_* */
	const void *owner;  /* the plugin (for conflicts and logs) */
	const char *owner_name;
	const char *pattern; /* as registered, with its parameter names */
	/* The names of the {name} segments, in order. */
	const char *params[EVAPI_MAX_PARAMS];
	unsigned nparams;
};

struct evapi_path {
	char shape[EVAPI_PATTERN_MAX]; /* "{}" for each parameter */
	size_t shape_len;
	unsigned nsegs;
	uint32_t literal_mask; /* bit i: segment i is literal (i < 32) */
	int exact;             /* no parameter */
	/* One slot per method bit (GET, HEAD, POST, ...); NULL handler: none. */
	struct evapi_slot slot[7];
	unsigned methods;
	unsigned flags; /* the union of the slots' flags */
	char allow[64]; /* "DELETE, GET, HEAD, OPTIONS, PUT" */
};

struct evapi_router {
	struct evapi_path *paths;
	size_t npaths, cap;
};

/* The route a request matched. Parameter values are ranges of the path,
 * still encoded. */
struct evapi_match {
	const struct evapi_path *path;
	const struct evapi_slot *slot; /* NULL: the path lacks the method */
	unsigned nparams;
	struct {
		uint32_t off, len;
	} param[EVAPI_MAX_PARAMS];
};

void evapi_router_init(struct evapi_router *r);
void evapi_router_free(struct evapi_router *r);
/* Add METHODS of PATTERN. EVAPI_ERR with *WHY (and *OTHER, the slot that
 * already has a method) when the pattern is malformed or taken. */
int evapi_router_add(struct evapi_router *r, unsigned methods,
		     const char *pattern, const struct evapi_slot *slot,
		     const char **why, const struct evapi_slot **other);
/* Match PATH (LEN bytes, encoded, no query) and METHOD (an EVAPI_* bit).
 * 0 when no path matches (404). */
int evapi_router_match(const struct evapi_router *r, const char *path,
		       size_t len, unsigned method, struct evapi_match *m);
/* The pattern requests on path index ROUTE with method index M (the
 * slot order: GET, HEAD, POST, ...) are counted under, or NULL. */
const char *evapi_router_label(const struct evapi_router *r, unsigned route,
			       unsigned m);

#endif
