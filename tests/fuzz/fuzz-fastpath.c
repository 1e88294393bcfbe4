/*
 * fuzz-fastpath.c - libFuzzer harness for the fast path's parser and reply
 * head (fastpath.c).
 *
 * The input is the bytes of one read. Properties beyond "no crash, no UB":
 * an accepted input is one complete GET or HEAD head of printable ASCII
 * ending at the first blank line, with a clean origin-form target inside
 * it; one byte more is refused (exactly one head); and the reply head is
 * a well-formed status line and header block that says "close" exactly
 * when the request did.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fastpath.h"

static void
require(int cond)
{
	if (!cond)
		abort();
}

static size_t
count(const char *hay, size_t n, const char *needle)
{
	size_t k = strlen(needle), c = 0, i;

	for (i = 0; i + k <= n; i++)
		if (memcmp(hay + i, needle, k) == 0)
			c++;
	return c;
}

static void
check_accepted(const char *d, size_t n, const struct evapi_fastreq *r)
{
	size_t i;

	require(n >= 4 && memcmp(d + n - 4, "\r\n\r\n", 4) == 0);
	require(count(d, n, "\r\n\r\n") == 1);
	require(memcmp(d, r->head ? "HEAD " : "GET ", r->head ? 5 : 4) == 0);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)d[i];

		require((c >= 0x20 && c < 0x7f) || c == '\r' || c == '\n' ||
			c == '\t');
	}
	require(r->target > d && r->target + r->target_len < d + n);
	require(r->target_len > 0 && r->target[0] == '/');
	for (i = 0; i < r->target_len; i++)
		require(strchr("% #\t", r->target[i]) == NULL);
	require(r->minor == 0 || r->minor == 1);
	require(r->close == (r->conn_close_header ||
			     (r->minor == 0 && !r->keepalive_header)));
}

static void
check_head(const struct evapi_fastreq *r)
{
	char out[512];
	size_t n = evapi_fast_head(out, sizeof(out), r, 200, "16",
				   "Thu, 01 Jan 1970 00:00:00 GMT");

	require(n > 0 && n < sizeof(out) && out[n] == '\0');
	require(memcmp(out, r->minor ? "HTTP/1.1 200 OK\r\n" :
				       "HTTP/1.0 200 OK\r\n", 17) == 0);
	require(memcmp(out + n - 4, "\r\n\r\n", 4) == 0);
	require(count(out, n, "\r\n\r\n") == 1);
	require(count(out, n, "Content-Length: 16\r\n") == 1);
	require(count(out, n, "Content-Type: application/json\r\n") == 1);
	require(count(out, n, "Connection: close\r\n") ==
		(size_t)r->conn_close_header);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct evapi_fastreq r, r2;
	char *more;

	if (!evapi_fast_parse((const char *)data, size, &r))
		return 0;
	check_accepted((const char *)data, size, &r);
	check_head(&r);
	/* Exactly one head: a byte after it is a pipelined request. */
	more = malloc(size + 1);
	require(more != NULL);
	memcpy(more, data, size);
	more[size] = 'G';
	require(!evapi_fast_parse(more, size + 1, &r2));
	free(more);
	return 0;
}
