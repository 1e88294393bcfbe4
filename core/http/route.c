/*
 * route.c - matching a request to its handler (route.h).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "route.h"

/* The order of evapi_path.slot[] and of the Allow header. */
static const struct {
	unsigned bit;
	const char *name;
} method_slots[] = {
	{EVAPI_GET, "GET"},     {EVAPI_HEAD, "HEAD"},
	{EVAPI_POST, "POST"},   {EVAPI_PUT, "PUT"},
	{EVAPI_PATCH, "PATCH"}, {EVAPI_DELETE, "DELETE"},
	{EVAPI_OPTIONS, "OPTIONS"},
};
#define NSLOTS (sizeof(method_slots) / sizeof(method_slots[0]))

static int
slot_index(unsigned bit)
{
	size_t i;

	for (i = 0; i < NSLOTS; i++)
		if (method_slots[i].bit == bit)
			return (int)i;
	return -1;
}

void
evapi_router_init(struct evapi_router *r)
{
	memset(r, 0, sizeof(*r));
}

void
evapi_router_free(struct evapi_router *r)
{
	free(r->paths);
	memset(r, 0, sizeof(*r));
}

/* Check PATTERN and write its shape and parameter names into P and S. */
static int
parse_pattern(const char *pattern, struct evapi_path *p, struct evapi_slot *s,
	      const char **why)
{
	size_t i = 0, o = 0, n = strlen(pattern);

	if (n == 0 || pattern[0] != '/' || n >= EVAPI_PATTERN_MAX) {
		*why = "a route pattern is an absolute path of at most 255 "
		       "bytes";
		return EVAPI_ERR;
	}
	p->exact = 1;
	p->nsegs = 0;
	p->literal_mask = 0;
	s->nparams = 0;
	while (i < n) {
		size_t start, end;

		/* pattern[i] is '/' */
		p->shape[o++] = pattern[i++];
		start = i;
		end = start;
		while (end < n && pattern[end] != '/')
			end++;
		if (end - start >= 2 && pattern[start] == '{' &&
		    pattern[end - 1] == '}') {
			size_t k;

			if (end - start == 2 || s->nparams == EVAPI_MAX_PARAMS) {
				*why = "a {name} segment needs a name (at most "
				       "16 per pattern)";
				return EVAPI_ERR;
			}
			for (k = start + 1; k < end - 1; k++)
				if (strchr("{}/", pattern[k]) != NULL) {
					*why = "a {name} segment is the whole "
					       "segment";
					return EVAPI_ERR;
				}
			s->params[s->nparams++] = pattern + start + 1;
			p->shape[o++] = '{';
			p->shape[o++] = '}';
			p->exact = 0;
		} else {
			size_t k;

			for (k = start; k < end; k++) {
				unsigned char c = (unsigned char)pattern[k];

				if (c <= 0x20 || c >= 0x7f ||
				    strchr("{}?#", c) != NULL) {
					*why = "a route pattern holds visible "
					       "ASCII, no '?', '#', '{' or '}' "
					       "outside a {name} segment";
					return EVAPI_ERR;
				}
				p->shape[o++] = (char)c;
			}
			if (p->nsegs < 32)
				p->literal_mask |= 1u << p->nsegs;
		}
		p->nsegs++;
		i = end;
	}
	p->shape[o] = '\0';
	p->shape_len = o;
	return EVAPI_OK;
}

static void
make_allow(struct evapi_path *p)
{
	static const char *const order[] = {"DELETE", "GET",   "HEAD",
					    "OPTIONS", "PATCH", "POST",
					    "PUT"};
	size_t i, o = 0;

	p->allow[0] = '\0';
	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		unsigned bit = 0;
		size_t k;

		for (k = 0; k < NSLOTS; k++)
			if (strcmp(method_slots[k].name, order[i]) == 0)
				bit = method_slots[k].bit;
		/* HEAD comes with GET, OPTIONS with every path. */
		if (!(p->methods & bit) &&
		    !(bit == EVAPI_HEAD && (p->methods & EVAPI_GET)) &&
		    bit != EVAPI_OPTIONS)
			continue;
		o += (size_t)snprintf(p->allow + o, sizeof(p->allow) - o,
				      "%s%s", o ? ", " : "", order[i]);
	}
}

static struct evapi_path *
find_shape(struct evapi_router *r, const char *shape)
{
	size_t i;

	for (i = 0; i < r->npaths; i++)
		if (strcmp(r->paths[i].shape, shape) == 0)
			return &r->paths[i];
	return NULL;
}

int
evapi_router_add(struct evapi_router *r, unsigned methods,
		 const char *pattern, const struct evapi_slot *slot,
		 const char **why, const struct evapi_slot **other)
{
	struct evapi_path tmp, *p;
	struct evapi_slot s = *slot;
	size_t k;

	*other = NULL;
	if (pattern == NULL || slot->handler == NULL || methods == 0 ||
	    (methods & ~(unsigned)(EVAPI_GET | EVAPI_HEAD | EVAPI_POST |
				   EVAPI_PUT | EVAPI_PATCH | EVAPI_DELETE |
				   EVAPI_OPTIONS)) != 0) {
		*why = "a route needs a pattern, a handler and EVAPI_* methods";
		return EVAPI_ERR;
	}
	memset(&tmp, 0, sizeof(tmp));
	if (parse_pattern(pattern, &tmp, &s, why) != EVAPI_OK)
		return EVAPI_ERR;
	s.pattern = pattern;
	p = find_shape(r, tmp.shape);
	if (p != NULL)
		for (k = 0; k < NSLOTS; k++)
			if ((methods & method_slots[k].bit) &&
			    p->slot[k].handler != NULL) {
				*why = "the method and path are taken";
				*other = &p->slot[k];
				return EVAPI_ERR;
			}
	if (p == NULL) {
		if (r->npaths == r->cap) {
			size_t cap = r->cap ? r->cap * 2 : 16;
			struct evapi_path *np =
				realloc(r->paths, cap * sizeof(*np));

			if (np == NULL) {
				*why = "out of memory";
				return EVAPI_ERR;
			}
			r->paths = np;
			r->cap = cap;
		}
		p = &r->paths[r->npaths++];
		*p = tmp;
	}
	for (k = 0; k < NSLOTS; k++)
		if (methods & method_slots[k].bit)
			p->slot[k] = s;
	p->methods |= methods;
	p->flags |= s.flags;
	make_allow(p);
	return EVAPI_OK;
}

/* Does PATH match P? Records the parameter ranges in M. */
static int
match_path(const struct evapi_path *p, const char *path, size_t len,
	   struct evapi_match *m)
{
	const char *s = p->shape;
	size_t i = 0;
	unsigned np = 0;

	if (p->exact)
		return p->shape_len == len && memcmp(p->shape, path, len) == 0;
	while (*s != '\0') {
		/* Both at a '/'. */
		if (i >= len || path[i] != '/')
			return 0;
		s++;
		i++;
		if (s[0] == '{' && s[1] == '}') {
			size_t start = i;

			while (i < len && path[i] != '/')
				i++;
			if (i == start)
				return 0; /* an empty segment is no value */
			m->param[np].off = (uint32_t)start;
			m->param[np].len = (uint32_t)(i - start);
			np++;
			s += 2;
		} else {
			while (*s != '\0' && *s != '/') {
				if (i >= len || path[i] != *s)
					return 0;
				s++;
				i++;
			}
			if (i < len && path[i] != '/')
				return 0;
		}
	}
	if (i != len)
		return 0;
	m->nparams = np;
	return 1;
}

/* Higher is better: literals earlier in the path weigh more. */
static uint64_t
rank(const struct evapi_path *p)
{
	uint64_t r = 0;
	unsigned i;

	for (i = 0; i < 32 && i < p->nsegs; i++)
		if (p->literal_mask & (1u << i))
			r |= (uint64_t)1 << (31 - i);
	return r;
}

int
evapi_router_match(const struct evapi_router *r, const char *path,
		   size_t len, unsigned method, struct evapi_match *m)
{
	const struct evapi_path *best = NULL;
	struct evapi_match tmp;
	uint64_t best_rank = 0;
	size_t i;
	int k;

	for (i = 0; i < r->npaths; i++) {
		const struct evapi_path *p = &r->paths[i];

		if (!match_path(p, path, len, &tmp))
			continue;
		if (p->exact) {
			best = p;
			*m = tmp;
			m->nparams = 0;
			break;
		}
		if (best == NULL || rank(p) > best_rank) {
			best = p;
			best_rank = rank(p);
			*m = tmp;
		}
	}
	if (best == NULL)
		return 0;
	m->path = best;
	m->slot = NULL;
	k = slot_index(method);
	if (k >= 0 && best->slot[k].handler != NULL)
		m->slot = &best->slot[k];
	else if (method == EVAPI_HEAD && best->slot[0].handler != NULL)
		m->slot = &best->slot[0]; /* GET answers HEAD */
	return 1;
}

const char *
evapi_router_label(const struct evapi_router *r, unsigned route, unsigned m)
{
	const struct evapi_path *p;
	unsigned k;

	if (route >= r->npaths)
		return NULL;
	p = &r->paths[route];
	/* The method's own pattern (same shape, its own parameter names),
	 * else the path's first: a 405 or OPTIONS on it, HEAD on a GET. */
	if (m < NSLOTS && p->slot[m].handler != NULL)
		return p->slot[m].pattern;
	for (k = 0; k < NSLOTS; k++)
		if (p->slot[k].handler != NULL)
			return p->slot[k].pattern;
	return NULL;
}
