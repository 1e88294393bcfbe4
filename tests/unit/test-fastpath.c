/*
 * test-fastpath.c - the fast path's parser and reply head (fastpath.c).
 *
 * The subset it accepts must be served exactly as evhttp would serve it,
 * and everything else must be left to evhttp: each case below names one
 * rule. The heads are compared byte for byte with what evhttp 2.1.12 sends
 * for the same request on the slow path (tests/test_fastpath.py checks
 * the same against the running server).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "fastpath.h"
#include "tap.h"

struct parse_case {
	const char *head;
	int want;      /* 1: the fast path serves it */
	int close;     /* when served: the connection closes after */
	const char *why;
};

static const struct parse_case cases[] = {
	{"GET /health HTTP/1.1\r\nHost: a\r\n\r\n", 1, 0, "plain GET"},
	{"HEAD /health HTTP/1.1\r\nHost: a\r\n\r\n", 1, 0, "plain HEAD"},
	{"GET /health?x=1&y=2 HTTP/1.1\r\nHost: a\r\n\r\n", 1, 0, "query"},
	{"GET /health HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 1, 1,
	 "close"},
	{"GET /health HTTP/1.1\r\nHost: a\r\nConnection: CLOSE\r\n\r\n", 1, 1,
	 "close, any case"},
	{"GET /health HTTP/1.0\r\n\r\n", 1, 1, "1.0 closes by default"},
	{"GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 1, 0,
	 "1.0 keep-alive"},
	{"GET /health HTTP/1.1\r\nHost: a\r\nUser-Agent: x/1 (y)\r\n"
	 "Accept: */*\r\n\r\n",
	 1, 0, "ordinary headers"},
	{"GET /health HTTP/1.1\r\nHost:a\r\nX-A: \t v \t\r\n\r\n", 1, 0,
	 "blanks around values"},
	/* evhttp's business, not the fast path's */
	{"GET /health HTTP/1.1\r\nHost: a\r\n", 0, 0, "incomplete head"},
	{"GET /health HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\n\r\n", 0,
	 0, "pipelined"},
	{"POST /health HTTP/1.1\r\nHost: a\r\n\r\n", 0, 0, "POST"},
	{"get /health HTTP/1.1\r\nHost: a\r\n\r\n", 0, 0, "lower-case method"},
	{"GET  /health HTTP/1.1\r\nHost: a\r\n\r\n", 0, 0, "two spaces"},
	{"GET /he%6clth HTTP/1.1\r\nHost: a\r\n\r\n", 0, 0, "percent"},
	{"GET /health#x HTTP/1.1\r\nHost: a\r\n\r\n", 0, 0, "fragment"},
	{"GET http://a/health HTTP/1.1\r\nHost: a\r\n\r\n", 0, 0,
	 "absolute form"},
	{"GET /health HTTP/1.2\r\nHost: a\r\n\r\n", 0, 0, "HTTP/1.2"},
	{"GET /health HTTP/2.0\r\nHost: a\r\n\r\n", 0, 0, "HTTP/2.0"},
	{"GET /health HTTP/1.1\nHost: a\n\n", 0, 0, "bare LF"},
	{"GET /health HTTP/1.1\r\n\r\n", 0, 0, "1.1 without Host (400)"},
	{"GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 0, 0,
	 "two Hosts (400)"},
	{"GET /health HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", 0, 0,
	 "Content-Length"},
	{"GET /health HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
	 "\r\n",
	 0, 0, "Transfer-Encoding"},
	{"GET /health HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n", 0,
	 0, "Expect"},
	{"GET /health HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\n\r\n", 0, 0,
	 "Upgrade"},
	{"GET /health HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, close\r\n"
	 "\r\n",
	 0, 0, "a Connection list"},
	{"GET /health HTTP/1.1\r\nHost: a\r\nConnection:\tclose\r\n\r\n", 0,
	 0, "a tab before close (evhttp keeps it: not close)"},
	{"GET /health HTTP/1.1\r\nHost: a\r\nConnection: close\r\n"
	 "Connection: close\r\n\r\n",
	 0, 0, "two Connections"},
	{"GET /health HTTP/1.1\r\nHost: a\r\nX-A: a\r\n b\r\n\r\n", 0, 0,
	 "obs-fold"},
	{"GET /health HTTP/1.1\r\nHost: a\r\nX A: b\r\n\r\n", 0, 0,
	 "space in a name"},
	{"GET /health HTTP/1.1\r\nHost: a\r\nX-A : b\r\n\r\n", 0, 0,
	 "space before the colon"},
	{"GET /health HTTP/1.1\r\nHost: a\r\nX-A: caf\xc3\xa9\r\n\r\n", 0, 0,
	 "obs-text"},
	{"GET /health HTTP/1.1\r\nHost: a\r\nX-A: a\x01"
	 "b\r\n\r\n",
	 0, 0, "control byte"},
	{"GET /health HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 0, 0,
	 "no colon"},
};

static void
test_parse(void)
{
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct evapi_fastreq r;
		const char *h = cases[i].head;
		int got = evapi_fast_parse(h, strlen(h), &r);

		ok(got == cases[i].want, "%s: %s", cases[i].why,
		   cases[i].want ? "served" : "left to evhttp");
		if (got && cases[i].want)
			ok(r.close == cases[i].close, "%s: %s", cases[i].why,
			   cases[i].close ? "closes" : "kept alive");
	}
}

static void
test_limits(void)
{
	char buf[EVAPI_FAST_MAX_HEAD + 64];
	const char *start = "GET /health HTTP/1.1\r\nHost: a\r\nX-Pad: ";
	struct evapi_fastreq r;
	size_t n = strlen(start), i;

	/* Exactly the longest head, then one byte more. */
	memcpy(buf, start, n);
	for (i = n; i < EVAPI_FAST_MAX_HEAD - 4; i++)
		buf[i] = 'x';
	memcpy(buf + i, "\r\n\r\n", 4);
	ok(evapi_fast_parse(buf, EVAPI_FAST_MAX_HEAD, &r) == 1,
	   "a head of EVAPI_FAST_MAX_HEAD bytes is served");
	memmove(buf + n + 1, buf + n, EVAPI_FAST_MAX_HEAD - n);
	ok(evapi_fast_parse(buf, EVAPI_FAST_MAX_HEAD + 1, &r) == 0,
	   "one byte more goes to evhttp");

	/* 32 header lines, then 33. */
	n = (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\n");
	for (i = 1; i < 32; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "X: y\r\n");
	memcpy(buf + n, "\r\n", 2);
	ok(evapi_fast_parse(buf, n + 2, &r) == 1, "32 header lines");
	memcpy(buf + n, "X: y\r\n\r\n", 8);
	ok(evapi_fast_parse(buf, n + 8, &r) == 0,
	   "33 header lines go to evhttp");
	ok(evapi_fast_parse("", 0, &r) == 0, "nothing");
}

static void
expect_head(const char *req, int status, const char *want, const char *why)
{
	struct evapi_fastreq r;
	char out[512];
	size_t n;

	if (!evapi_fast_parse(req, strlen(req), &r)) {
		ok(0, "%s: parsed", why);
		return;
	}
	n = evapi_fast_head(out, sizeof(out), &r, status, "16",
			    "Fri, 27 Nov 2026 13:04:49 GMT");
	ok(n == strlen(want), "%s: length", why);
	is_str(n ? out : "", want, "%s: the bytes evhttp sends", why);
}

static void
test_heads(void)
{
	static const char small_req[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
	struct evapi_fastreq r;
	char small[40];

	/* Captured from evhttp 2.1.12 serving the same requests. */
	expect_head("GET /health HTTP/1.1\r\nHost: a\r\n\r\n", 200,
		    "HTTP/1.1 200 OK\r\nContent-Length: 16\r\n"
		    "Date: Fri, 27 Nov 2026 13:04:49 GMT\r\n"
		    "Content-Type: application/json\r\n\r\n",
		    "GET 1.1");
	expect_head("HEAD /health HTTP/1.1\r\nHost: a\r\n\r\n", 200,
		    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
		    "Content-Length: 16\r\n"
		    "Date: Fri, 27 Nov 2026 13:04:49 GMT\r\n\r\n",
		    "HEAD 1.1");
	expect_head("GET /ready HTTP/1.1\r\nHost: a\r\nConnection: close\r\n"
		    "\r\n",
		    503,
		    "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 16\r\n"
		    "Date: Fri, 27 Nov 2026 13:04:49 GMT\r\n"
		    "Content-Type: application/json\r\nConnection: close\r\n"
		    "\r\n",
		    "GET 1.1, close, 503");
	expect_head("GET /health HTTP/1.0\r\n\r\n", 200,
		    "HTTP/1.0 200 OK\r\nContent-Length: 16\r\n"
		    "Date: Fri, 27 Nov 2026 13:04:49 GMT\r\n"
		    "Content-Type: application/json\r\n\r\n",
		    "GET 1.0");
	expect_head("GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
		    200,
		    "HTTP/1.0 200 OK\r\nContent-Length: 16\r\n"
		    "Date: Fri, 27 Nov 2026 13:04:49 GMT\r\n"
		    "Connection: keep-alive\r\n"
		    "Content-Type: application/json\r\n\r\n",
		    "GET 1.0 keep-alive");
	expect_head("HEAD /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
		    200,
		    "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n"
		    "Content-Length: 16\r\n"
		    "Date: Fri, 27 Nov 2026 13:04:49 GMT\r\n"
		    "Connection: keep-alive\r\n\r\n",
		    "HEAD 1.0 keep-alive");

	ok(evapi_fast_parse(small_req, strlen(small_req), &r) == 1,
	   "a short request parses");
	ok(evapi_fast_head(small, sizeof(small), &r, 200, "16", "x") == 0,
	   "a head that does not fit is refused");
	ok(evapi_fast_head(small, sizeof(small), &r, 418, "16", "x") == 0,
	   "a status without a reason phrase here is refused");
}

int
main(void)
{
	test_parse();
	test_limits();
	test_heads();
	return tap_done();
}
