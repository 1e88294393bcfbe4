/*
 * test-http.c - the pure parts of the HTTP layer, case by case: the head
 * parser and the gate (fed whole, and one byte at a time: the read
 * boundaries must never change a verdict), percent-decoding and query
 * strings, the router, and the response head writer.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/decode.h"
#include "http/gate.h"
#include "http/request.h"
#include "http/response.h"
#include "http/route.h"
#include "tap.h"
#include "util/alloc.h"
#include "util/utf8.h"

/* ---- a gate over plain malloc ------------------------------------------------ */

static struct evapi_msg *
msg_alloc(void *arg)
{
	(void)arg;
	return calloc(1, sizeof(struct evapi_msg));
}

static void
msg_release(struct evapi_msg *m, void *arg)
{
	(void)arg;
	evapi_free(m->buf); /* the gate grows it with evapi_realloc */
	evapi_head_free(&m->head);
	free(m);
}

static const struct evapi_gate_limits limits = {8192, 16384, 64, 16};

struct verdict {
	int status;        /* 0: accepted */
	unsigned messages; /* complete messages */
	const char *why;
};

/* Feed DATA in pieces of STEP bytes (0: whole); count complete messages
 * (taken as they complete) until a refusal. */
static struct verdict
run_gate(const char *data, size_t len, size_t step)
{
	struct evapi_gate g;
	struct verdict v = {0, 0, ""};
	size_t off = 0;

	evapi_gate_init(&g, &limits, msg_alloc, msg_release, NULL);
	while (off < len && g.state != GATE_REFUSED) {
		size_t n = step && len - off > step ? step : len - off;
		size_t took = 0;

		while (took < n && g.state != GATE_REFUSED) {
			struct evapi_msg *m;

			took += evapi_gate_feed(&g, data + off + took, n - took);
			while ((m = evapi_gate_take(&g)) != NULL) {
				v.messages++;
				msg_release(m, NULL);
			}
		}
		off += n;
	}
	if (g.state == GATE_REFUSED) {
		v.status = g.status;
		v.why = g.why;
	}
	evapi_gate_clear(&g);
	return v;
}

struct gate_case {
	const char *data;
	int status;         /* 0, or the refusal */
	unsigned messages;  /* complete messages before it */
	const char *what;
};

#define H "Host: x\r\n"
static const struct gate_case gate_cases[] = {
	/* accepted */
	{"GET / HTTP/1.1\r\n" H "\r\n", 0, 1, "a plain GET"},
	{"GET / HTTP/1.0\r\n\r\n", 0, 1, "HTTP/1.0 without Host"},
	{"GET /a?b=c HTTP/1.1\r\n" H "X-A: \t v \t\r\n\r\n", 0, 1,
	 "blanks around a value"},
	{"\r\n\r\nGET / HTTP/1.1\r\n" H "\r\n", 0, 1, "empty lines first"},
	{"POST /e HTTP/1.1\r\n" H "Content-Length: 3\r\n\r\nabc", 0, 1,
	 "a Content-Length body"},
	{"POST /e HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n"
	 "3\r\nabc\r\n0\r\n\r\n",
	 0, 1, "a chunked body"},
	{"POST /e HTTP/1.1\r\n" H "Transfer-Encoding: Chunked\r\n\r\n"
	 "A\r\n0123456789\r\n00\r\nX-T: 1\r\n\r\n",
	 0, 1, "upper-case hex, a zero with a leading zero, a trailer"},
	{"GET /1 HTTP/1.1\r\n" H "\r\nGET /2 HTTP/1.1\r\n" H "\r\n", 0, 2,
	 "two pipelined"},
	{"GET http://x/a HTTP/1.1\r\n" H "\r\n", 0, 1, "absolute form"},
	{"OPTIONS * HTTP/1.1\r\n" H "\r\n", 0, 1, "OPTIONS *"},
	{"FOO /x HTTP/1.1\r\n" H "\r\n", 501, 0, "an unknown method"},
	/* the request line */
	{"GET / HTTP/1.2\r\n" H "\r\n", 505, 0, "HTTP/1.2"},
	{"GET / HTTP/2.0\r\n" H "\r\n", 505, 0, "HTTP/2.0"},
	{"GET / HTTP/1.10\r\n" H "\r\n", 400, 0, "HTTP/1.10"},
	{"GET / HTTP/1.4294967295\r\n" H "\r\n", 400, 0, "a huge minor"},
	{"GET /h HTTP/1.65535\r\nHost x\r\n\r\n", 400, 0, "bad version first"},
	{"GET  / HTTP/1.1\r\n" H "\r\n", 400, 0, "two spaces"},
	{"GET / HTTP/1.1 \r\n" H "\r\n", 400, 0, "a trailing space"},
	{"GET /a b HTTP/1.1\r\n" H "\r\n", 400, 0, "a space in the target"},
	{"GET /a#f HTTP/1.1\r\n" H "\r\n", 400, 0, "a fragment"},
	{"GET ftp://x/ HTTP/1.1\r\n" H "\r\n", 400, 0, "another scheme"},
	{"GET http:///a HTTP/1.1\r\n" H "\r\n", 400, 0, "no authority"},
	{"GET * HTTP/1.1\r\n" H "\r\n", 400, 0, "* without OPTIONS"},
	{"CONNECT x:443 HTTP/1.1\r\n" H "\r\n", 400, 0, "authority form"},
	{"CONNECT /x HTTP/1.1\r\n" H "\r\n", 501, 0, "CONNECT"},
	{"G\x01T / HTTP/1.1\r\n" H "\r\n", 400, 0, "a control byte"},
	/* line ends, NUL, folding */
	{"GET / HTTP/1.1\n" H "\r\n", 400, 0, "a bare LF"},
	{"GET / HTTP/1.1\r\nHost: x\n\r\n", 400, 0, "a bare LF in a field"},
	{"GET / HTTP/1.1\r\n" H "\n", 400, 0, "a bare LF ends the head"},
	{"GET / HTTP/1.1\r\nHost: x\ry\r\n\r\n", 400, 0, "a bare CR"},
	{"\nGET / HTTP/1.1\r\n" H "\r\n", 400, 0, "a bare LF first"},
	{"GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n", 400, 0, "a NUL"},
	{"GET / HTTP/1.1\r\n" H "X: a\r\n b\r\n\r\n", 400, 0, "folding"},
	{"GET / HTTP/1.1\r\n" H " X: a\r\n\r\n", 400, 0, "folding, first"},
	/* fields */
	{"GET / HTTP/1.1\r\n" H "X : a\r\n\r\n", 400, 0, "space before colon"},
	{"GET / HTTP/1.1\r\n" H ": a\r\n\r\n", 400, 0, "an empty name"},
	{"GET / HTTP/1.1\r\n" H "X\x7f: a\r\n\r\n", 400, 0, "DEL in a name"},
	{"GET / HTTP/1.1\r\n" H "X: a\x7f\r\n\r\n", 400, 0, "DEL in a value"},
	{"GET / HTTP/1.1\r\n\r\n", 400, 0, "HTTP/1.1 without Host"},
	{"GET / HTTP/1.1\r\n" H H "\r\n", 400, 0, "two Host"},
	{"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, 0, "a space in Host"},
	{"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, 0, "a slash in Host"},
	/* framing */
	{"POST / HTTP/1.1\r\n" H "Content-Length: 1\r\nContent-Length: 1\r\n"
	 "\r\na",
	 400, 0, "two Content-Length"},
	{"POST / HTTP/1.1\r\n" H "Content-Length: 1, 1\r\n\r\na", 400, 0,
	 "a Content-Length list"},
	{"POST / HTTP/1.1\r\n" H "Content-Length: +1\r\n\r\na", 400, 0,
	 "a signed Content-Length"},
	{"POST / HTTP/1.1\r\n" H "Content-Length: 0x1\r\n\r\na", 400, 0,
	 "a hex Content-Length"},
	{"POST / HTTP/1.1\r\n" H "Content-Length: 99999999999999999999\r\n"
	 "\r\n",
	 400, 0, "a 20-digit Content-Length"},
	{"POST / HTTP/1.1\r\n" H "Content-Length: 16385\r\n\r\n", 413, 0,
	 "over MAX_BODY_SIZE"},
	{"POST / HTTP/1.1\r\n" H "Content-Length: 3\r\n"
	 "Transfer-Encoding: chunked\r\n\r\n",
	 400, 0, "CL and TE"},
	{"POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n"
	 "Transfer-Encoding: chunked\r\n\r\n",
	 400, 0, "two TE"},
	{"POST / HTTP/1.1\r\n" H "Transfer-Encoding: gzip, chunked\r\n\r\n",
	 501, 0, "gzip, chunked"},
	{"POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked, gzip\r\n\r\n",
	 400, 0, "chunked not last"},
	{"POST / HTTP/1.1\r\n" H "Transfer-Encoding: identity\r\n\r\n", 400,
	 0, "identity"},
	{"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400, 0,
	 "TE on HTTP/1.0"},
	{"HEAD / HTTP/1.1\r\n" H "Content-Length: 3\r\n\r\nabc", 400, 0,
	 "a body on HEAD"},
	{"GET / HTTP/1.1\r\n" H "Expect: 100-continue\r\n\r\n", 0, 1,
	 "Expect: 100-continue"},
	{"GET / HTTP/1.1\r\n" H "Expect: magic\r\n\r\n", 417, 0,
	 "another expectation"},
	/* chunks */
	{"POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n"
	 "3;a=b\r\nabc\r\n0\r\n\r\n",
	 400, 0, "a chunk extension"},
	{"POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n"
	 "0x3\r\nabc\r\n0\r\n\r\n",
	 400, 0, "0x in a chunk size"},
	{"POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n"
	 "3\nabc\r\n0\r\n\r\n",
	 400, 0, "a bare LF after a chunk size"},
	{"POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n"
	 "3\r\nabc0\r\n\r\n",
	 400, 0, "no CRLF after a chunk"},
	{"POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n"
	 "3\r\nabc\r\n0\r\n\n",
	 400, 0, "a bare LF ends the trailer"},
	{"POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n"
	 "3\r\nabc\r\n0\r\nX y\r\n\r\n",
	 400, 0, "a bad trailer field"},
	{"POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n"
	 "4001\r\n",
	 413, 0, "a chunk over MAX_BODY_SIZE"},
	{"POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n"
	 " 3\r\nabc\r\n0\r\n\r\n",
	 400, 0, "a space before a chunk size"},
	{"POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n"
	 "ffffffffffffffffff\r\n",
	 400, 0, "a chunk size too long"},
	/* a good request, then a bad one */
	{"GET / HTTP/1.1\r\n" H "\r\nGET / HTTP/1.7\r\n" H "\r\n", 505, 1,
	 "a good one answered first"},
};

static void
test_gate(void)
{
	size_t i;

	for (i = 0; i < sizeof(gate_cases) / sizeof(gate_cases[0]); i++) {
		const struct gate_case *c = &gate_cases[i];
		/* Cases with a NUL give their length explicitly. */
		size_t len = strlen(c->data);
		struct verdict whole, bytes;

		if (strstr(c->what, "a NUL") != NULL)
			len = strlen(c->data) + 1 + strlen(c->data + strlen(c->data) + 1);
		whole = run_gate(c->data, len, 0);
		bytes = run_gate(c->data, len, 1);
		ok(whole.status == c->status && whole.messages == c->messages,
		   "gate: %s -> %d after %u (got %d after %u: %s)", c->what,
		   c->status, c->messages, whole.status, whole.messages,
		   whole.why);
		ok(bytes.status == whole.status &&
			   bytes.messages == whole.messages,
		   "gate, one byte at a time: %s", c->what);
	}
}

/* The limits: a head too long is 414 on the request line, 431 after. */
static void
test_gate_limits(void)
{
	char *big = malloc(20000);
	struct verdict v;

	memset(big, 'a', 20000);
	memcpy(big, "GET /", 5);
	v = run_gate(big, 20000, 0);
	ok(v.status == 414, "a 20000-byte target: 414 (%d)", v.status);
	memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
	v = run_gate(big, 20000, 0);
	ok(v.status == 431, "a 20000-byte field: 431 (%d)", v.status);
	free(big);
}

/* What the gate saw of one message. */
static void
test_gate_fields(void)
{
	static const char req[] =
		"POST http://h:1/p/q?x=1 HTTP/1.1\r\nHost: h\r\n"
		"Connection: keep-alive, Close\r\ncontent-length: 2\r\n"
		"X-A:  1 \r\nX-A: 2\r\n\r\nhi";
	struct evapi_gate g;
	struct evapi_msg *m;

	evapi_gate_init(&g, &limits, msg_alloc, msg_release, NULL);
	evapi_gate_feed(&g, req, sizeof(req) - 1);
	m = evapi_gate_take(&g);
	ok(m != NULL, "one message");
	if (m == NULL)
		return;
	is_str(m->head.method, "POST", "method");
	is_str(m->head.target, "http://h:1/p/q?x=1", "target as sent");
	ok(m->head.form == EVAPI_FORM_ABSOLUTE, "absolute form");
	ok(m->head.path_len == 4 &&
		   memcmp(m->buf + m->head.path_off, "/p/q", 4) == 0,
	   "path without scheme and authority");
	ok(m->head.query_len == 3 &&
		   memcmp(m->buf + m->head.query_off, "x=1", 3) == 0,
	   "query");
	ok(m->head.close, "Connection: keep-alive, Close closes");
	ok(m->head.has_length && m->head.content_length == 2,
	   "Content-Length in any case");
	ok(m->body_len == 2 && m->head_end + 2 == m->wire, "body framed");
	is_str(evapi_head_field(&m->head, m->buf, "x-a", 0), "1",
	       "first X-A, trimmed");
	is_str(evapi_head_field(&m->head, m->buf, "X-A", 1), "2", "second X-A");
	ok(evapi_head_field(&m->head, m->buf, "X-A", 2) == NULL, "no third");
	is_str(m->head.host, "h", "Host");
	msg_release(m, NULL);
	evapi_gate_clear(&g);
}

/* ---- decoding ------------------------------------------------------------------ */

static void
test_decode(void)
{
	char out[64];
	struct evapi_qpair q[8];
	char store[128];
	const char *s;
	long n;

	ok(evapi_pct_decode("a%20b", 5, out, 0) == 3 && !strcmp(out, "a b"),
	   "%%20");
	ok(evapi_pct_decode("a+b", 3, out, 0) == 3 && !strcmp(out, "a+b"),
	   "+ in a path stays");
	ok(evapi_pct_decode("a+b", 3, out, 1) == 3 && !strcmp(out, "a b"),
	   "+ in a query is a space");
	ok(evapi_pct_decode("%C3%A9", 6, out, 0) == 2, "two bytes");
	ok(evapi_pct_decode("%00", 3, out, 0) < 0, "%%00 refused");
	ok(evapi_pct_decode("%2", 2, out, 0) < 0, "a short escape");
	ok(evapi_pct_decode("%zz", 3, out, 0) < 0, "not hex");
	ok(evapi_utf8_valid("W\xc3\xb6rld", 6), "UTF-8");
	ok(!evapi_utf8_valid("\xc3", 1), "a cut sequence");
	ok(!evapi_utf8_valid("\xc0\xaf", 2), "an overlong form");
	ok(!evapi_utf8_valid("\xed\xa0\x80", 3), "a surrogate");
	ok(!evapi_utf8_valid("\xf4\x90\x80\x80", 4), "above U+10FFFF");
	ok(evapi_utf8_valid("\xf0\x9f\x98\x80", 4), "an emoji");
	s = "a=1&b=x%20y&&c&a=2&d=";
	n = evapi_query_parse(s, strlen(s), store, q, 8);
	ok(n == 5, "5 pairs (got %ld)", n);
	if (n == 5) {
		is_str(q[0].name, "a", "a");
		is_str(q[0].value, "1", "a=1");
		is_str(q[1].value, "x y", "b decoded");
		is_str(q[2].name, "c", "c");
		is_str(q[2].value, "", "c without =");
		is_str(q[3].value, "2", "a again");
		is_str(q[4].value, "", "d=");
	}
	ok(evapi_query_parse("a=%zz", 5, store, q, 8) < 0, "a bad escape");
	ok(evapi_query_parse("a=%00", 5, store, q, 8) < 0, "an escaped NUL");
	ok(evapi_query_parse("", 0, store, q, 8) == 0, "empty");
}

/* ---- routing ----------------------------------------------------------------------- */

static void
dummy(evapi_request *req, void *arg)
{
	(void)req;
	(void)arg;
}

static int
add(struct evapi_router *r, unsigned m, const char *pattern, void *arg)
{
	struct evapi_slot s;
	const struct evapi_slot *other;
	const char *why;

	memset(&s, 0, sizeof(s));
	s.handler = dummy;
	s.arg = arg;
	s.owner_name = (const char *)arg;
	return evapi_router_add(r, m, pattern, &s, &why, &other);
}

static const char *
match(const struct evapi_router *r, const char *path, unsigned method,
      struct evapi_match *m)
{
	if (!evapi_router_match(r, path, strlen(path), method, m))
		return "404";
	if (m->slot == NULL)
		return "405";
	return m->slot->arg;
}

static void
test_route(void)
{
	struct evapi_router r;
	struct evapi_match m;

	evapi_router_init(&r);
	ok(add(&r, EVAPI_GET, "/hello/{name}", "pattern") == EVAPI_OK,
	   "a pattern");
	ok(add(&r, EVAPI_GET, "/hello/stats", "exact") == EVAPI_OK, "exact");
	ok(add(&r, EVAPI_GET | EVAPI_PUT | EVAPI_DELETE, "/kv/{key}", "kv") ==
		   EVAPI_OK,
	   "kv");
	ok(add(&r, EVAPI_POST, "/kv/{other}", "post") == EVAPI_OK,
	   "same shape, another method");
	ok(add(&r, EVAPI_GET, "/kv/{k}", "dup") == EVAPI_ERR,
	   "same shape and method: refused");
	ok(add(&r, EVAPI_GET, "/a/{x}/c", "axc") == EVAPI_OK, "/a/{x}/c");
	ok(add(&r, EVAPI_GET, "/a/b/{y}", "aby") == EVAPI_OK, "/a/b/{y}");
	ok(add(&r, EVAPI_GET, "/{}", "x") == EVAPI_ERR, "an unnamed parameter");
	ok(add(&r, EVAPI_GET, "/a{x}", "x") == EVAPI_ERR, "a partial segment");
	ok(add(&r, EVAPI_GET, "noslash", "x") == EVAPI_ERR, "not absolute");
	ok(add(&r, EVAPI_GET, "/q?x", "x") == EVAPI_ERR, "a query");
	is_str(match(&r, "/hello/stats", EVAPI_GET, &m), "exact",
	       "the exact path wins");
	is_str(match(&r, "/hello/bob", EVAPI_GET, &m), "pattern", "a pattern");
	ok(m.nparams == 1 && m.param[0].len == 3, "bob is the parameter");
	is_str(match(&r, "/hello/bob", EVAPI_HEAD, &m), "pattern",
	       "GET answers HEAD");
	is_str(match(&r, "/hello/", EVAPI_GET, &m), "404",
	       "an empty segment is no value");
	is_str(match(&r, "/hello/a/b", EVAPI_GET, &m), "404", "two segments");
	is_str(match(&r, "/hello/stats", EVAPI_PUT, &m), "405",
	       "no fallthrough to the pattern");
	is_str(m.path->allow, "GET, HEAD, OPTIONS", "Allow of /hello/stats");
	is_str(match(&r, "/kv/k", EVAPI_PATCH, &m), "405", "PATCH on /kv");
	is_str(m.path->allow, "DELETE, GET, HEAD, OPTIONS, POST, PUT",
	       "Allow of /kv/{key}");
	is_str(match(&r, "/kv/k", EVAPI_POST, &m), "post", "another handler");
	is_str(match(&r, "/a/b/c", EVAPI_GET, &m), "aby",
	       "a literal earlier wins");
	is_str(match(&r, "/%68ello/stats", EVAPI_GET, &m), "404",
	       "raw bytes route");
	evapi_router_free(&r);
}

/* ---- response heads -------------------------------------------------------------- */

static void
test_head_writer(void)
{
	struct evapi_head_out h;
	struct evapi_rheader x = {"X-A", "1", NULL};
	char buf[512], want[512], small[32];
	size_t n;

	memset(&h, 0, sizeof(h));
	h.minor = 1;
	h.status = 200;
	h.content_type = "application/json";
	h.has_length = 1;
	h.length = 16;
	h.extra = &x;
	h.close = 1;
	n = evapi_head_write(buf, sizeof(buf) - 1, &h);
	buf[n] = '\0';
	snprintf(want, sizeof(want),
		 "HTTP/1.1 200 OK\r\nDate: %s\r\nContent-Type: "
		 "application/json\r\nContent-Length: 16\r\nX-A: 1\r\n"
		 "Connection: close\r\n\r\n",
		 evapi_http_date());
	is_str(buf, want, "a head");
	ok(n == evapi_head_write(NULL, 0, &h), "its size is known without room");
	memset(small, 'x', sizeof(small));
	ok(evapi_head_write(small, 20, &h) == n && small[20] == 'x',
	   "too little room: the length, nothing written past the room");
	h.minor = 0;
	h.close = 0;
	h.keepalive = 1;
	h.status = 299;
	h.extra = NULL;
	n = evapi_head_write(buf, sizeof(buf) - 1, &h);
	buf[n] = '\0';
	ok(strncmp(buf, "HTTP/1.0 299 \r\n", 15) == 0,
	   "HTTP/1.0, a status without a phrase: %.15s", buf);
	ok(strstr(buf, "Connection: keep-alive\r\n") != NULL, "1.0 keep-alive");
	n = evapi_error_json(buf, sizeof(buf), 400, "bad \"x\"\n", NULL);
	buf[n] = '\0';
	is_str(buf, "{\"error\":\"bad \\\"x\\\"\\u000a\",\"status\":400}\n",
	       "an error body, escaped");
	n = evapi_error_json(buf, sizeof(buf), 404, "not found", "a\"b\\c");
	buf[n] = '\0';
	is_str(buf,
	       "{\"error\":\"not found\",\"status\":404,"
	       "\"request_id\":\"a\\\"b\\\\c\"}\n",
	       "an error body with its request id, escaped");
}

int
main(void)
{
	test_gate();
	test_gate_limits();
	test_gate_fields();
	test_decode();
	test_route();
	test_head_writer();
	return tap_done();
}
