/*
 * reqcheck.c - reject what evhttp 2.1 lets through before a handler runs.
 *
 * evhttp 2.1.12 (Debian 12) accepts requests that let a client smuggle a
 * second request past a front proxy, or desynchronise framing:
 *   - two Content-Length headers (it takes the first; the bytes the second
 *     one announced are parsed as the next request);
 *   - "Transfer-Encoding : chunked" (space before the colon) stored as some
 *     other header, so Content-Length framing is used;
 *   - empty header names, names with spaces or control bytes;
 *   - HTTP/1.1 without Host, or with two;
 *   - spaces and control bytes in the request target.
 * evapi's handlers take no request bodies, so the rules can be strict: any
 * Transfer-Encoding, any repeated Content-Length, any byte a header name or
 * value may not carry (RFC 9110 5.1, 5.5) gets a 400 and the connection is
 * closed after it, so nothing the client sent after the bad request is ever
 * read as another request.
 */
#include "config.h"

#include <string.h>

#include "reqcheck.h"

/* RFC 9110 5.6.2 tchar: the bytes a header name (and a method) is made of. */
int
evapi_is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int
is_token(const char *s)
{
	if (s == NULL || *s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (!evapi_is_tchar((unsigned char)*s))
			return 0;
	return 1;
}

/* ASCII only: locale-independent on purpose. */
static int
name_is(const char *name, const char *want)
{
	for (; *name != '\0' && *want != '\0'; name++, want++) {
		unsigned char a = (unsigned char)*name;

		if (a >= 'A' && a <= 'Z')
			a = (unsigned char)(a - 'A' + 'a');
		if (a != (unsigned char)*want)
			return 0;
	}
	return *name == *want;
}

/* field-value: VCHAR, SP, HTAB and obs-text; never CR, LF, NUL or DEL. */
static int
value_ok(const char *v)
{
	for (; *v != '\0'; v++) {
		unsigned char c = (unsigned char)*v;

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return 0;
	}
	return 1;
}

/* Content-Length: 1*DIGIT, no sign, no list, small enough for int64. */
static int
length_ok(const char *v)
{
	size_t n = strspn(v, "0123456789");

	return n > 0 && n <= 18 && v[n] == '\0';
}

/* Host: uri-host [ ":" port ] in its plain forms; may be empty (RFC 9112
 * 3.2). Whitespace, '/', '@' and controls have no business there. */
static int
host_ok(const char *v)
{
	for (; *v != '\0'; v++) {
		unsigned char c = (unsigned char)*v;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9'))
			continue;
		if (strchr("-._~!$&'()*+,;=:[]%", c) == NULL)
			return 0;
	}
	return 1;
}

/* origin-form "/...", absolute-form "scheme://...", or "*"; printable
 * ASCII without spaces. Which form routes is the router's business. */
static int
target_ok(const char *t)
{
	const char *p;

	if (t == NULL || *t == '\0')
		return 0;
	for (p = t; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return 0;
	if (t[0] == '/' || strcmp(t, "*") == 0)
		return 1;
	p = t;
	if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
		return 0;
	p += strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		       "0123456789+-.");
	return strncmp(p, "://", 3) == 0;
}

static void
fail(struct evapi_reqcheck *c, int status, const char *why)
{
	if (c->status == 0) {
		c->status = status;
		c->why = why;
	}
}

void
evapi_reqcheck_start(struct evapi_reqcheck *c, const char *method,
		     const char *target, int major, int minor)
{
	memset(c, 0, sizeof(*c));
	c->why = "";
	if (major != 1 || minor < 0 || minor > 1) {
		fail(c, 505, "HTTP version not supported");
		return;
	}
	c->http11 = minor == 1;
	if (!is_token(method))
		fail(c, 400, "invalid method");
	else if (strcmp(method, "CONNECT") == 0)
		fail(c, 501, "CONNECT is not supported");
	else if (!target_ok(target))
		fail(c, 400, "invalid request target");
}

void
evapi_reqcheck_header(struct evapi_reqcheck *c, const char *name,
		      const char *value)
{
	if (c->status != 0)
		return;
	if (!is_token(name)) {
		fail(c, 400, "invalid header name");
		return;
	}
	if (value == NULL || !value_ok(value)) {
		fail(c, 400, "invalid character in a header value");
		return;
	}
	if (name_is(name, "content-length")) {
		if (++c->n_length > 1)
			fail(c, 400, "more than one Content-Length");
		else if (!length_ok(value))
			fail(c, 400, "invalid Content-Length");
	} else if (name_is(name, "transfer-encoding")) {
		fail(c, 400, "Transfer-Encoding is not accepted");
	} else if (name_is(name, "host")) {
		if (++c->n_host > 1)
			fail(c, 400, "more than one Host");
		else if (!host_ok(value))
			fail(c, 400, "invalid Host");
	}
}

int
evapi_reqcheck_finish(struct evapi_reqcheck *c)
{
	if (c->status == 0 && c->http11 && c->n_host == 0)
		fail(c, 400, "HTTP/1.1 request without Host");
	return c->status;
}

/* Line folding is a line that starts with a space or tab: LF then SP or
 * HTAB, wherever the read boundaries fall (STATE carries the last LF). A
 * request head never contains one; a body might, but no evapi route takes
 * a body, so its request is refused either way. */
unsigned
evapi_reqcheck_scan(unsigned *state, const void *data, size_t len)
{
	const unsigned char *p = data;
	unsigned found = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		if (p[i] == '\0')
			found |= EVAPI_RAW_NUL;
		else if ((p[i] == ' ' || p[i] == '\t') && *state != 0)
			found |= EVAPI_RAW_FOLD;
		*state = p[i] == '\n';
	}
	return found;
}

const char *
evapi_reqcheck_raw_why(unsigned found)
{
	if (found & EVAPI_RAW_NUL)
		return "NUL byte in the request";
	if (found & EVAPI_RAW_FOLD)
		return "obsolete line folding in the request head";
	return NULL;
}

int
evapi_reqcheck(const char *method, const char *target, int major, int minor,
	       const char *const *headers, size_t n, const char **why)
{
	struct evapi_reqcheck c;
	size_t i;

	evapi_reqcheck_start(&c, method, target, major, minor);
	for (i = 0; i < n; i++)
		evapi_reqcheck_header(&c, headers[2 * i], headers[2 * i + 1]);
	evapi_reqcheck_finish(&c);
	if (why != NULL)
		*why = c.why;
	return c.status;
}
