/*
 * head.c - the request line and header fields, read strictly (head.h).
 */
#include "config.h"

#include <string.h>

#include <evapi/plugin.h>

#include "util/chars.h"
#include "head.h"
#include "util/alloc.h"
#include "util/num.h"

/* Longest method token: PROPPATCH has 9 bytes; anything longer is not a
 * method anyone means. */
#define METHOD_MAX 32

static const struct {
	const char *name;
	unsigned id;
} methods[] = {
	{"GET", EVAPI_GET},         {"HEAD", EVAPI_HEAD},
	{"POST", EVAPI_POST},       {"PUT", EVAPI_PUT},
	{"PATCH", EVAPI_PATCH},     {"DELETE", EVAPI_DELETE},
	{"OPTIONS", EVAPI_OPTIONS}, {"TRACE", EVAPI_M_TRACE},
	{"CONNECT", EVAPI_M_CONNECT},
};

unsigned
evapi_method_id(const char *m, size_t n)
{
	size_t i;

	/* Methods are case-sensitive (RFC 9110 9.1). */
	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strlen(methods[i].name) == n &&
		    memcmp(methods[i].name, m, n) == 0)
			return methods[i].id;
	return 0;
}

const char *
evapi_method_name(unsigned id)
{
	size_t i;

	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (methods[i].id == id)
			return methods[i].name;
	return NULL;
}

void
evapi_head_reset(struct evapi_head *h)
{
	struct evapi_field *f = h->fields;
	size_t cap = h->cap, max = h->max_fields;

	memset(h, 0, sizeof(*h));
	h->fields = f;
	h->cap = cap;
	h->max_fields = max;
}

void
evapi_head_free(struct evapi_head *h)
{
	evapi_free(h->fields);
	h->fields = NULL;
	h->cap = h->nfields = 0;
}

/* ---- the request line ---------------------------------------------------- */

static int
parse_version(const char *v, size_t n, int *minor, const char **why)
{
	if (n == 8 && memcmp(v, "HTTP/1.", 7) == 0 &&
	    (v[7] == '0' || v[7] == '1')) {
		*minor = v[7] - '0';
		return 0;
	}
	/* Well-formed, but a version evapi does not speak. */
	if (n == 8 && memcmp(v, "HTTP/", 5) == 0 && v[5] >= '0' &&
	    v[5] <= '9' && v[6] == '.' && v[7] >= '0' && v[7] <= '9') {
		*why = "HTTP version not supported";
		return 505;
	}
	*why = "invalid HTTP version";
	return 400;
}

/* Where the path and the query are, for each form of the target. */
static int
split_target(struct evapi_head *h, const char *t, size_t n, const char **why)
{
	size_t i = 0, s, q;

	if (n == 1 && t[0] == '*') {
		h->form = EVAPI_FORM_ASTERISK;
		h->path_off = h->target_off;
		h->path_len = 1;
		return 0;
	}
	if (t[0] != '/') {
		/* absolute-form: scheme "://" authority path-abempty */
		while (i < n && ((t[i] >= 'a' && t[i] <= 'z') ||
				 (t[i] >= 'A' && t[i] <= 'Z') ||
				 (i > 0 && ((t[i] >= '0' && t[i] <= '9') ||
					    t[i] == '+' || t[i] == '-' ||
					    t[i] == '.'))))
			i++;
		if (i == 0 || n - i < 3 || memcmp(t + i, "://", 3) != 0) {
			*why = "invalid request target";
			return 400;
		}
		if (!evapi_ieq(t, i, "http") && !evapi_ieq(t, i, "https")) {
			*why = "request target with a scheme other than http";
			return 400;
		}
		s = i + 3;
		i = s;
		while (i < n && t[i] != '/' && t[i] != '?')
			i++;
		if (i == s) {
			*why = "request target without an authority";
			return 400;
		}
		h->form = EVAPI_FORM_ABSOLUTE;
	} else {
		h->form = EVAPI_FORM_ORIGIN;
	}
	for (q = i; q < n && t[q] != '?'; q++)
		;
	h->path_off = h->target_off + (uint32_t)i;
	h->path_len = (uint32_t)(q - i);
	if (q < n) {
		h->query_off = h->target_off + (uint32_t)q + 1;
		h->query_len = (uint32_t)(n - q - 1);
	}
	return 0;
}

static int
request_line(struct evapi_head *h, const char *buf, size_t off, size_t len,
	     const char **why)
{
	const char *l = buf + off;
	size_t m = 0, t, tend;
	int status;

	while (m < len && evapi_ch((unsigned char)l[m], EVAPI_CH_TCHAR))
		m++;
	if (m == 0 || m > METHOD_MAX || m == len || l[m] != ' ') {
		*why = m == 0 ? "invalid method" : "invalid request line";
		return 400;
	}
	t = m + 1;
	tend = t;
	while (tend < len && evapi_ch((unsigned char)l[tend], EVAPI_CH_TARGET))
		tend++;
	if (tend == t || tend == len || l[tend] != ' ') {
		*why = tend == t || (tend < len && l[tend] != ' ')
			       ? "invalid request target"
			       : "invalid request line";
		return 400;
	}
	status = parse_version(l + tend + 1, len - tend - 1, &h->minor, why);
	if (status != 0)
		return status;
	h->method_off = (uint32_t)off;
	h->method_len = (uint32_t)m;
	h->method_id = evapi_method_id(l, m);
	h->target_off = (uint32_t)(off + t);
	h->target_len = (uint32_t)(tend - t);
	return split_target(h, l + t, tend - t, why);
}

/* ---- header fields ------------------------------------------------------- */

static int
field_line(struct evapi_head *h, const char *buf, size_t off, size_t len,
	   const char **why)
{
	const char *l = buf + off;
	struct evapi_field *f;
	size_t n = 0, v, e;

	if (len > 0 && (l[0] == ' ' || l[0] == '\t')) {
		*why = "obsolete line folding in the request head";
		return 400;
	}
	while (n < len && evapi_ch((unsigned char)l[n], EVAPI_CH_TCHAR))
		n++;
	if (n == 0 || n == len || l[n] != ':') {
		*why = "invalid header name";
		return 400;
	}
	for (v = n + 1; v < len && (l[v] == ' ' || l[v] == '\t'); v++)
		;
	for (e = v; e < len; e++)
		if (!evapi_ch((unsigned char)l[e], EVAPI_CH_FIELD)) {
			*why = "invalid character in a header value";
			return 400;
		}
	while (e > v && (l[e - 1] == ' ' || l[e - 1] == '\t'))
		e--;
	if (h->nfields == h->max_fields) {
		*why = "too many header fields";
		return 431;
	}
	if (h->nfields == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 16;

		f = evapi_realloc(h->fields, cap * sizeof(*f));
		if (f == NULL) {
			*why = "out of memory";
			return 503;
		}
		h->fields = f;
		h->cap = cap;
	}
	f = &h->fields[h->nfields++];
	f->name_off = (uint32_t)off;
	f->name_len = (uint32_t)n;
	f->value_off = (uint32_t)(off + v);
	f->value_len = (uint32_t)(e - v);
	return 0;
}

int
evapi_head_line(struct evapi_head *h, const char *buf, size_t off, size_t len,
		const char **why)
{
	int status;

	/* A NUL could hide the rest of a line from a C-string reader. */
	if (memchr(buf + off, '\0', len) != NULL) {
		*why = "NUL byte in the request head";
		return 400;
	}
	status = h->nlines == 0 ? request_line(h, buf, off, len, why)
				: field_line(h, buf, off, len, why);
	h->nlines++;
	return status;
}

/* ---- the whole head -------------------------------------------------------- */

/* The last element of a comma-separated list, trimmed. */
static void
last_element(const char *v, size_t n, const char **e, size_t *elen)
{
	size_t end = n, start;

	while (end > 0 && (v[end - 1] == ' ' || v[end - 1] == '\t'))
		end--;
	start = end;
	while (start > 0 && v[start - 1] != ',')
		start--;
	while (start < end && (v[start] == ' ' || v[start] == '\t'))
		start++;
	*e = v + start;
	*elen = end - start;
}

/* Connection: a list of tokens; "close" and "keep-alive" matter. */
static void
connection_tokens(struct evapi_head *h, const char *v, size_t n, int *ka)
{
	size_t i = 0, s, e;

	while (i < n) {
		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		s = i;
		while (i < n && v[i] != ',')
			i++;
		e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (evapi_ieq(v + s, e - s, "close"))
			h->close = 1;
		else if (evapi_ieq(v + s, e - s, "keep-alive"))
			*ka = 1;
	}
}

static int
host_ok(const char *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!evapi_ch((unsigned char)v[i], EVAPI_CH_HOST))
			return 0;
	return 1;
}

struct counts {
	unsigned host, length, te, expect_other;
	const struct evapi_field *te_field, *length_field, *host_field;
	const struct evapi_field *rid_field; /* the first X-Request-Id */
	int keepalive;
};

static int
note_field(struct evapi_head *h, const char *buf, const struct evapi_field *f,
	   struct counts *c, const char **why)
{
	const char *n = buf + f->name_off, *v = buf + f->value_off;

	switch (f->name_len) {
	case 4:
		if (evapi_ieq(n, 4, "host")) {
			c->host++;
			c->host_field = f;
			if (!host_ok(v, f->value_len)) {
				*why = "invalid Host";
				return 400;
			}
		}
		break;
	case 6:
		if (evapi_ieq(n, 6, "expect") &&
		    !evapi_ieq(v, f->value_len, "100-continue"))
			c->expect_other++;
		else if (evapi_ieq(n, 6, "expect"))
			h->expect_100 = 1;
		break;
	case 10:
		if (evapi_ieq(n, 10, "connection"))
			connection_tokens(h, v, f->value_len, &c->keepalive);
		break;
	case 12:
		/* Found here, in the pass every head takes anyway: looking it
		 * up per request afterwards cost more (reqid.c). */
		if (c->rid_field == NULL && evapi_ieq(n, 12, "x-request-id"))
			c->rid_field = f;
		break;
	case 14:
		if (evapi_ieq(n, 14, "content-length")) {
			c->length++;
			c->length_field = f;
		}
		break;
	case 17:
		if (evapi_ieq(n, 17, "transfer-encoding")) {
			c->te++;
			c->te_field = f;
		}
		break;
	}
	return 0;
}

/* Content-Length and Transfer-Encoding: one way to find the body's end,
 * or a refusal (a front proxy might pick the other). */
static int
framing(struct evapi_head *h, const char *buf, const struct counts *c,
	const char **why)
{
	const char *e;
	size_t elen;

	if (c->length > 1) {
		*why = "more than one Content-Length";
		return 400;
	}
	if (c->te > 1) {
		*why = "more than one Transfer-Encoding";
		return 400;
	}
	if (c->te && c->length) {
		*why = "both Content-Length and Transfer-Encoding";
		return 400;
	}
	if (c->length) {
		const struct evapi_field *f = c->length_field;

		/* 1*DIGIT; 18 digits cannot overflow and are far too many. */
		if (f->value_len > 18 ||
		    evapi_parse_u64(buf + f->value_off, f->value_len,
				    UINT64_MAX, &h->content_length) !=
			    EVAPI_OK) {
			*why = "invalid Content-Length";
			return 400;
		}
		h->has_length = 1;
	}
	if (c->te) {
		const struct evapi_field *f = c->te_field;

		if (h->minor == 0) {
			*why = "Transfer-Encoding in an HTTP/1.0 request";
			return 400;
		}
		last_element(buf + f->value_off, f->value_len, &e, &elen);
		if (!evapi_ieq(e, elen, "chunked")) {
			*why = "Transfer-Encoding without chunked last";
			return 400;
		}
		if (!evapi_ieq(buf + f->value_off, f->value_len, "chunked")) {
			*why = "transfer coding other than chunked";
			return 501;
		}
		h->chunked = 1;
	}
	/* evhttp reads no body after HEAD or TRACE: a body there would be
	 * read as the next request. */
	if ((h->method_id == EVAPI_HEAD || h->method_id == EVAPI_M_TRACE) &&
	    (h->chunked || h->content_length > 0)) {
		*why = "a body on a HEAD or TRACE request";
		return 400;
	}
	return 0;
}

/* Terminate every string in place: the byte after each part of the
 * request line and after each name and value is a space, a colon, blanks
 * or the line end, none of which belongs to the string. */
static void
terminate(struct evapi_head *h, char *buf)
{
	size_t i;

	buf[h->method_off + h->method_len] = '\0';
	buf[h->target_off + h->target_len] = '\0';
	h->method = buf + h->method_off;
	h->target = buf + h->target_off;
	for (i = 0; i < h->nfields; i++) {
		struct evapi_field *f = &h->fields[i];

		buf[f->name_off + f->name_len] = '\0';
		buf[f->value_off + f->value_len] = '\0';
	}
}

int
evapi_head_finish(struct evapi_head *h, char *buf, const char **why)
{
	struct counts c;
	size_t i;
	int status;

	memset(&c, 0, sizeof(c));
	for (i = 0; i < h->nfields; i++)
		if ((status = note_field(h, buf, &h->fields[i], &c, why)) != 0)
			return status;
	if (h->method_id == 0) {
		*why = "unknown method";
		return 501;
	}
	if (h->method_id == EVAPI_M_CONNECT) {
		*why = "CONNECT is not supported";
		return 501;
	}
	if (h->form == EVAPI_FORM_ASTERISK && h->method_id != EVAPI_OPTIONS) {
		*why = "the request target * is only for OPTIONS";
		return 400;
	}
	if (c.host > 1 || (h->minor == 1 && c.host == 0)) {
		*why = c.host ? "more than one Host" : "missing Host header";
		return 400;
	}
	if ((status = framing(h, buf, &c, why)) != 0)
		return status;
	if (h->minor == 1 && c.expect_other) {
		*why = "unsupported expectation";
		return 417;
	}
	if (h->minor == 0) {
		h->expect_100 = 0;
		h->keepalive = c.keepalive && !h->close;
		if (!h->keepalive)
			h->close = 1;
	}
	terminate(h, buf);
	h->host = c.host_field ? buf + c.host_field->value_off : NULL;
	h->request_id = c.rid_field ? buf + c.rid_field->value_off : NULL;
	return 0;
}

const char *
evapi_head_field(const struct evapi_head *h, const char *buf, const char *name,
		 size_t i)
{
	size_t k, n = strlen(name);

	for (k = 0; k < h->nfields; k++) {
		const struct evapi_field *f = &h->fields[k];

		if (f->name_len == n && evapi_memeqi(buf + f->name_off, name, n) &&
		    i-- == 0)
			return buf + f->value_off;
	}
	return NULL;
}
