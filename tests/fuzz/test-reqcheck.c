/*
 * test-reqcheck.c - unit tests of reqcheck.c, the checks every request
 * passes before a handler runs (the fuzzer's target, with known verdicts).
 */
#include "config.h"

#include <string.h>

#include "reqcheck.h"
#include "../unit/tap.h"

#define H(...) ((const char *const[]){__VA_ARGS__, NULL, NULL})

struct verdict {
	const char *what;
	const char *method, *target;
	int minor;
	const char *const *headers; /* name, value, ..., NULL */
	int status;
};

static size_t
pairs(const char *const *h)
{
	size_t n = 0;

	while (h[2 * n] != NULL)
		n++;
	return n;
}

static const struct verdict cases[] = {
	{"plain GET", "GET", "/health", 1, H("Host", "x"), 0},
	{"HTTP/1.0 without Host", "GET", "/health", 0, H("X", "y"), 0},
	{"query string", "GET", "/ready?a=b", 1, H("host", "a:80"), 0},
	{"absolute form", "GET", "http://x/health", 1, H("Host", "x"), 0},
	{"asterisk", "OPTIONS", "*", 1, H("Host", "x"), 0},
	{"empty Host", "GET", "/", 1, H("Host", ""), 0},
	{"IPv6 Host", "GET", "/", 1, H("Host", "[::1]:8080"), 0},
	{"tab and 8-bit in a value", "GET", "/", 1,
	 H("Host", "x", "X", "a\tb\xc3\xa9"), 0},
	{"one Content-Length", "POST", "/", 1,
	 H("Host", "x", "Content-Length", "12"), 0},
	{"no Host on 1.1", "GET", "/", 1, H("X", "y"), 400},
	{"two Hosts", "GET", "/", 1, H("Host", "a", "HOST", "a"), 400},
	{"two Hosts on 1.0", "GET", "/", 0, H("Host", "a", "Host", "b"), 400},
	{"Host with space", "GET", "/", 1, H("Host", "a b"), 400},
	{"Host with @", "GET", "/", 1, H("Host", "u@a"), 400},
	{"two Content-Length", "GET", "/", 1,
	 H("Host", "x", "Content-Length", "0", "content-length", "0"), 400},
	{"Content-Length +3", "GET", "/", 1,
	 H("Host", "x", "Content-Length", "+3"), 400},
	{"Content-Length list", "GET", "/", 1,
	 H("Host", "x", "Content-Length", "3, 3"), 400},
	{"Content-Length 19 digits", "GET", "/", 1,
	 H("Host", "x", "Content-Length", "1234567890123456789"), 400},
	{"Transfer-Encoding", "POST", "/", 1,
	 H("Host", "x", "Transfer-Encoding", "chunked"), 400},
	{"transfer-encoding identity", "POST", "/", 1,
	 H("Host", "x", "transfer-encoding", "identity"), 400},
	{"name with trailing space", "GET", "/", 1,
	 H("Host", "x", "Transfer-Encoding ", "chunked"), 400},
	{"empty name", "GET", "/", 1, H("Host", "x", "", "v"), 400},
	{"name with space", "GET", "/", 1, H("Host", "x", "X Y", "v"), 400},
	{"8-bit name", "GET", "/", 1, H("Host", "x", "X\xe9", "v"), 400},
	{"control byte in value", "GET", "/", 1,
	 H("Host", "x", "X", "a\x01"), 400},
	{"CR in value", "GET", "/", 1, H("Host", "x", "X", "a\rb"), 400},
	{"DEL in value", "GET", "/", 1, H("Host", "x", "X", "a\x7f"), 400},
	{"space in target", "GET", "/a b", 1, H("Host", "x"), 400},
	{"8-bit target", "GET", "/\xe9", 1, H("Host", "x"), 400},
	{"relative target", "GET", "health", 1, H("Host", "x"), 400},
	{"empty target", "GET", "", 1, H("Host", "x"), 400},
	{"authority form", "GET", "x:443", 1, H("Host", "x"), 400},
	{"CONNECT", "CONNECT", "/", 1, H("Host", "x"), 501},
	{"bad method", "GE T", "/", 1, H("Host", "x"), 400},
	{"HTTP/1.2", "GET", "/", 2, H("Host", "x"), 505},
};

static void
test_verdicts(void)
{
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct verdict *v = &cases[i];
		const char *why = NULL;
		int st = evapi_reqcheck(v->method, v->target, 1, v->minor,
					v->headers, pairs(v->headers), &why);

		ok(st == v->status && why != NULL &&
			   (st == 0 || why[0] != '\0'),
		   "%s: %d (%s)", v->what, st, why ? why : "?");
	}
	ok(evapi_reqcheck("GET", "/", 2, 0, NULL, 0, NULL) == 505,
	   "HTTP/2.0 is 505");
	ok(evapi_reqcheck("GET", "/", 0, 9, NULL, 0, NULL) == 505,
	   "HTTP/0.9 is 505");
}

static unsigned
scan(const char *s, size_t len)
{
	unsigned state = 0;

	return evapi_reqcheck_scan(&state, s, len);
}

static void
test_scan(void)
{
	static const char fold[] = "GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n";
	static const char nul[] = "GET / HTTP/1.1\r\nA: b\0c\r\n\r\n";
	static const char clean[] = "GET / HTTP/1.1\r\nA: b c\r\n\r\n"
				    "GET / HTTP/1.1\r\n\r\n";
	unsigned state = 0, f;

	ok(scan(clean, sizeof(clean) - 1) == 0, "a clean pipeline: nothing");
	ok(scan(fold, sizeof(fold) - 1) == EVAPI_RAW_FOLD, "obs-fold found");
	ok(scan(nul, sizeof(nul) - 1) == EVAPI_RAW_NUL, "NUL found");
	f = evapi_reqcheck_scan(&state, fold, 22);
	f |= evapi_reqcheck_scan(&state, fold + 22, sizeof(fold) - 23);
	ok(f == EVAPI_RAW_FOLD, "obs-fold split across two reads found");
	ok(evapi_reqcheck_raw_why(0) == NULL &&
		   strstr(evapi_reqcheck_raw_why(EVAPI_RAW_NUL), "NUL"),
	   "reasons");
}

int
main(void)
{
	test_verdicts();
	test_scan();
	return tap_done();
}
