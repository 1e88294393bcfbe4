/*
 * fuzz-uri.c - libFuzzer harness for routing, percent-decoding and query
 * strings: what a request's path and query become before a handler sees
 * them.
 *
 * The input is a path with an optional query. Properties beyond "no
 * crash, no UB": a matched route's parameters are inside the path and hold
 * no '/'; a decoded parameter or query value holds no NUL and is never
 * longer than its source; the query yields at most one pair per '&'.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/decode.h"
#include "http/route.h"
#include "util/utf8.h"

static void
dummy(evapi_request *req, void *arg)
{
	(void)req;
	(void)arg;
}

static const struct evapi_router *
router(void)
{
	static const char *const patterns[] = {
		"/health", "/hello/{name}", "/hello/stats", "/kv/{key}",
		"/items/{id}/tags/{tag}", "/a/{x}/c", "/a/b/{y}", NULL};
	static struct evapi_router r;
	static int ready;
	const struct evapi_slot *other;
	struct evapi_slot s;
	const char *why;
	size_t i;

	if (!ready) {
		evapi_router_init(&r);
		memset(&s, 0, sizeof(s));
		s.handler = dummy;
		for (i = 0; patterns[i] != NULL; i++)
			if (evapi_router_add(&r, EVAPI_GET, patterns[i], &s, &why,
					     &other) != EVAPI_OK)
				abort();
		ready = 1;
	}
	return &r;
}

static void
check_decoded(const char *src, size_t n, int form)
{
	char *d = malloc(n + 1);
	long len;

	if (d == NULL)
		return;
	len = evapi_pct_decode(src, n, d, form);
	if (len >= 0 && ((size_t)len > n || memchr(d, '\0', (size_t)len)))
		abort();
	if (len >= 0)
		(void)evapi_utf8_valid(d, (size_t)len);
	free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	const char *q = memchr(in, '?', size);
	size_t plen = q ? (size_t)(q - in) : size, i;
	struct evapi_match m;

	if (size > 4096)
		return 0;
	/* The gate lets only visible ASCII into a request target. */
	for (i = 0; i < size; i++)
		if (data[i] <= 0x20 || data[i] >= 0x7f || data[i] == '#')
			return 0;
	if (evapi_router_match(router(), in, plen, EVAPI_GET, &m))
		for (i = 0; i < m.nparams; i++) {
			if (m.param[i].off + m.param[i].len > plen ||
			    m.param[i].len == 0 ||
			    memchr(in + m.param[i].off, '/', m.param[i].len))
				abort();
			check_decoded(in + m.param[i].off, m.param[i].len, 0);
		}
	if (q != NULL) {
		size_t qn = size - plen - 1;
		size_t max = evapi_query_count(q + 1, qn);
		struct evapi_qpair *pairs = malloc(max * sizeof(*pairs));
		char *store = malloc(evapi_query_store_size(q + 1, qn));
		long np;

		if (pairs != NULL && store != NULL) {
			np = evapi_query_parse(q + 1, qn, store, pairs, max);
			if (np > (long)max)
				abort();
		}
		free(pairs);
		free(store);
	}
	return 0;
}
