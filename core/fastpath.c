/*
 * fastpath.c - parse the strict subset of request heads the fast path
 * serves, and write the head of its answer. See fastpath.h.
 *
 * The subset: "GET" or "HEAD", an origin-form target of unreserved and
 * sub-delimiter bytes (no '%', no '#'), HTTP/1.0 or HTTP/1.1, at most
 * MAX_HEADERS header lines of a token name and a printable ASCII value,
 * no body (no Content-Length, Transfer-Encoding or Expect) and no
 * Upgrade, at most one Connection whose value is exactly "close" or
 * "keep-alive", and nothing after the blank line. The same reqcheck.c
 * checks as on evhttp's path then run over what was parsed.
 */
#include "config.h"

#include <string.h>

#include "fastpath.h"
#include "reqcheck.h"

#define MAX_HEADERS 32
#define MAX_NAME 64

/* RFC 3986 unreserved, sub-delims, ':', '@', '/' and '?'. */
static int
is_target_char(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("-._~!$&'()*+,;=:@/?", c) != NULL;
}

/* ASCII case-insensitive comparison of N bytes with lower-case WANT. */
static int
ieq(const char *s, size_t n, const char *want)
{
	size_t i;

	if (strlen(want) != n)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char a = (unsigned char)s[i];

		if (a >= 'A' && a <= 'Z')
			a = (unsigned char)(a - 'A' + 'a');
		if (a != (unsigned char)want[i])
			return 0;
	}
	return 1;
}

static int
starts(const char *p, const char *end, const char *lit)
{
	size_t n = strlen(lit);

	return (size_t)(end - p) >= n && memcmp(p, lit, n) == 0;
}

/* The request line; P moves past it. */
static int
parse_line(const char **pp, const char *end, struct evapi_fastreq *r)
{
	const char *p = *pp;

	if (starts(p, end, "GET "))
		p += 4;
	else if (starts(p, end, "HEAD ")) {
		r->head = 1;
		p += 5;
	} else
		return 0;
	r->target = p;
	if (p == end || *p != '/')
		return 0;
	while (p < end && is_target_char((unsigned char)*p))
		p++;
	r->target_len = (size_t)(p - r->target);
	if (starts(p, end, " HTTP/1.1\r\n"))
		r->minor = 1;
	else if (!starts(p, end, " HTTP/1.0\r\n"))
		return 0;
	*pp = p + 11;
	return 1;
}

/* What one header means to the subset: 0 to refuse the request. */
static int
note_header(struct evapi_fastreq *r, const char *name, size_t nlen,
	    const char *value, size_t vlen, int *nconn)
{
	if (ieq(name, nlen, "content-length") ||
	    ieq(name, nlen, "transfer-encoding") || ieq(name, nlen, "expect") ||
	    ieq(name, nlen, "upgrade"))
		return 0;
	if (!ieq(name, nlen, "connection"))
		return 1;
	if (++*nconn > 1)
		return 0;
	if (ieq(value, vlen, "close"))
		r->conn_close_header = 1;
	else if (ieq(value, vlen, "keep-alive"))
		r->keepalive_header = 1;
	else
		return 0;
	return 1;
}

/* One "name: value" line, the value trimmed as evhttp trims it (leading
 * spaces, trailing spaces and tabs); fed to the request check. P moves
 * past the line. */
static int
parse_header(const char **pp, const char *end, struct evapi_fastreq *r,
	     struct evapi_reqcheck *chk, int *nconn)
{
	char name[MAX_NAME + 1], value[EVAPI_FAST_MAX_HEAD];
	const char *p = *pp, *n = p, *v, *vend;
	size_t nlen, vlen;

	while (p < end && evapi_is_tchar((unsigned char)*p))
		p++;
	nlen = (size_t)(p - n);
	if (nlen == 0 || nlen > MAX_NAME || p == end || *p != ':')
		return 0;
	p++;
	/* Like evhttp: spaces before the value go, a tab stays. */
	while (p < end && *p == ' ')
		p++;
	v = p;
	while (p < end && ((*p >= 0x20 && *p <= 0x7e) || *p == '\t'))
		p++;
	if (!starts(p, end, "\r\n"))
		return 0;
	vend = p;
	while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t'))
		vend--;
	vlen = (size_t)(vend - v);
	if (!note_header(r, n, nlen, v, vlen, nconn))
		return 0;
	memcpy(name, n, nlen);
	name[nlen] = '\0';
	memcpy(value, v, vlen);
	value[vlen] = '\0';
	evapi_reqcheck_header(chk, name, value);
	*pp = p + 2;
	return 1;
}

int
evapi_fast_parse(const char *buf, size_t len, struct evapi_fastreq *r)
{
	const char *p = buf, *end = buf + len;
	char target[EVAPI_FAST_MAX_HEAD];
	struct evapi_reqcheck chk;
	int nconn = 0, nh;

	memset(r, 0, sizeof(*r));
	if (len == 0 || len > EVAPI_FAST_MAX_HEAD || !parse_line(&p, end, r))
		return 0;
	memcpy(target, r->target, r->target_len);
	target[r->target_len] = '\0';
	evapi_reqcheck_start(&chk, r->head ? "HEAD" : "GET", target, 1,
			     r->minor);
	for (nh = 0; !starts(p, end, "\r\n"); nh++)
		if (nh == MAX_HEADERS ||
		    !parse_header(&p, end, r, &chk, &nconn))
			return 0;
	/* Exactly one head: a pipelined request after it goes to evhttp. */
	if (p + 2 != end || evapi_reqcheck_finish(&chk) != 0)
		return 0;
	r->close = r->conn_close_header ||
		   (r->minor == 0 && !r->keepalive_header);
	return 1;
}

/* evhttp's reason phrases for the statuses a request-free answer uses. */
static const char *
reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 404:
		return "Not Found";
	case 500:
		return "Internal Server Error";
	case 503:
		return "Service Unavailable";
	default:
		return NULL;
	}
}

struct out {
	char *p;
	size_t left;
	int full;
};

static void
put(struct out *o, const char *s)
{
	size_t n = strlen(s);

	if (n >= o->left) {
		o->full = 1;
		return;
	}
	memcpy(o->p, s, n);
	o->p += n;
	o->left -= n;
}

/* evhttp's order: ours (Content-Type on HEAD only, Content-Length, Date),
 * then its own (the 1.0 keep-alive, Content-Type on a body, close). Built
 * with memcpy: no printf on the fast path. */
size_t
evapi_fast_head(char *out, size_t outlen, const struct evapi_fastreq *r,
		int status, const char *content_length, const char *date)
{
	const char *why = reason(status);
	struct out o = {out, outlen, 0};
	char code[5];

	if (why == NULL || outlen == 0)
		return 0;
	code[0] = (char)('0' + status / 100);
	code[1] = (char)('0' + status / 10 % 10);
	code[2] = (char)('0' + status % 10);
	code[3] = ' ';
	code[4] = '\0';
	put(&o, r->minor ? "HTTP/1.1 " : "HTTP/1.0 ");
	put(&o, code);
	put(&o, why);
	put(&o, "\r\n");
	if (r->head)
		put(&o, "Content-Type: application/json\r\n");
	put(&o, "Content-Length: ");
	put(&o, content_length);
	put(&o, "\r\nDate: ");
	put(&o, date);
	put(&o, "\r\n");
	if (r->minor == 0 && r->keepalive_header)
		put(&o, "Connection: keep-alive\r\n");
	if (!r->head)
		put(&o, "Content-Type: application/json\r\n");
	if (r->conn_close_header)
		put(&o, "Connection: close\r\n");
	put(&o, "\r\n");
	if (o.full)
		return 0;
	*o.p = '\0';
	return (size_t)(o.p - out);
}
