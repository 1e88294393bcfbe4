/*
 * router.c - exact routing on the raw request target.
 *
 * evhttp_set_cb() compares the *decoded* path, so /%68ealth or /health%00x
 * would reach /health. evapi routes on the bytes the client sent, up to the
 * query string, and nothing else: variants of a route are 404.
 */
#include "config.h"

#include <string.h>

#include "evapi-internal.h"

int
evapi_router_add(struct evapi_router *r, const struct evapi_host *owner,
		 unsigned methods, const char *path, evapi_handler_fn fn,
		 void *arg)
{
	struct evapi_route *rt;
	size_t len, i;

	if (path == NULL || path[0] != '/' || fn == NULL ||
	    (methods & EVAPI_METHOD_GET) == 0)
		return EVAPI_ERR;
	len = strlen(path);
	if (len >= sizeof(rt->path) || strpbrk(path, "?# %") != NULL)
		return EVAPI_ERR;
	for (i = 0; i < r->nroutes; i++) {
		if (strcmp(r->routes[i].path, path) == 0)
			return EVAPI_ERR;
	}
	if (r->nroutes == EVAPI_MAX_ROUTES)
		return EVAPI_ERR;
	rt = &r->routes[r->nroutes++];
	memcpy(rt->path, path, len + 1);
	rt->path_len = len;
	rt->methods = methods;
	rt->fn = fn;
	rt->arg = arg;
	rt->owner = owner;
	return EVAPI_OK;
}

const struct evapi_route *
evapi_router_find(const struct evapi_router *r, const char *target)
{
	return evapi_router_find_n(r, target, strlen(target));
}

const struct evapi_route *
evapi_router_find_n(const struct evapi_router *r, const char *target,
		    size_t len)
{
	const char *q = memchr(target, '?', len);
	size_t i;

	if (q != NULL)
		len = (size_t)(q - target);
	for (i = 0; i < r->nroutes; i++) {
		const struct evapi_route *rt = &r->routes[i];

		if (rt->path_len == len && memcmp(rt->path, target, len) == 0)
			return rt;
	}
	return NULL;
}

/* The owner of PATH, for the duplicate-route error message. */
const struct evapi_route *
evapi_router_owner(const struct evapi_router *r, const char *path)
{
	size_t i;

	for (i = 0; i < r->nroutes; i++)
		if (strcmp(r->routes[i].path, path) == 0)
			return &r->routes[i];
	return NULL;
}

/* PATH when OWNER registered it, to attach an answer; else NULL. */
struct evapi_route *
evapi_router_owned(struct evapi_router *r, const struct evapi_host *owner,
		   const char *path)
{
	size_t i;

	for (i = 0; i < r->nroutes; i++)
		if (r->routes[i].owner == owner &&
		    strcmp(r->routes[i].path, path) == 0)
			return &r->routes[i];
	return NULL;
}
