/*
 * head.h - where a request head is parsed: the request line and the
 * header fields, one line at a time as they arrive, then the checks that
 * need the whole head (Host, Content-Length, Transfer-Encoding, Expect,
 * Connection).
 *
 * Pure functions over bytes (no libevent, no global state): the gate
 * (gate.c) feeds them, the unit tests and a fuzzer drive them directly.
 *
 * The grammar is RFC 9112's, read strictly, because evhttp 2.1 reads it
 * loosely (see the hardening notes): one space between the parts of the
 * request line, "HTTP/1.0" or "HTTP/1.1", a token method, a request
 * target of visible ASCII without '#', field names that are tokens with
 * the colon right after, field values of visible bytes, spaces and tabs.
 * Lines end with CRLF: a bare LF is refused (400), as is a line folded
 * onto the previous one. Every refusal names its reason.
 */
#ifndef EVAPI_HTTP_HEAD_H
#define EVAPI_HTTP_HEAD_H

#include <stddef.h>
#include <stdint.h>

/* Methods evapi knows (the EVAPI_* bits of plugin.h), and two it only
 * refuses. */
#define EVAPI_M_TRACE 0x80u
#define EVAPI_M_CONNECT 0x100u

enum evapi_target_form {
	EVAPI_FORM_ORIGIN,   /* "/path?query" */
	EVAPI_FORM_ABSOLUTE, /* "http://authority/path?query" */
	EVAPI_FORM_ASTERISK, /* "*" (OPTIONS only) */
};

/* A field as parsed: offsets into the head buffer while it may grow, then
 * (after evapi_head_finish) NUL-terminated strings. */
struct evapi_field {
	uint32_t name_off, name_len;
	uint32_t value_off, value_len;
};

struct evapi_head {
	/* Limits, set by the caller. */
	size_t max_fields;

	/* The request line. */
	uint32_t method_off, method_len;
	uint32_t target_off, target_len;
	unsigned method_id; /* an EVAPI_* or EVAPI_M_* bit; 0: unknown */
	int minor;          /* HTTP/1.<minor>: 0 or 1 */
	enum evapi_target_form form;
	uint32_t path_off, path_len;   /* within the target */
	uint32_t query_off, query_len; /* after '?'; query_off 0: none */

	/* The fields. */
	struct evapi_field *fields;
	size_t nfields, cap;

	/* Set by evapi_head_finish. */
	const char *method, *target, *host;
	const char *request_id; /* the first X-Request-Id field, or NULL */
	int has_length, chunked;
	uint64_t content_length;
	int close;      /* the connection ends after this request */
	int keepalive;  /* HTTP/1.0 with Connection: keep-alive */
	int expect_100; /* Expect: 100-continue (HTTP/1.1) */

	unsigned nlines;
};

/* Forget a previous request's head; keeps the field array. */
void evapi_head_reset(struct evapi_head *h);
void evapi_head_free(struct evapi_head *h);

/* One complete line of the head: BUF + OFF, LEN bytes, without its line
 * end. The request line first, then fields. 0, or the status to refuse
 * the request with, and *WHY a fixed text naming the reason. */
int evapi_head_line(struct evapi_head *h, const char *buf, size_t off,
		    size_t len, const char **why);
/* The empty line came: the checks over the whole head. BUF is
 * terminated in place (the strings of evapi_head_str point into it). */
int evapi_head_finish(struct evapi_head *h, char *buf, const char **why);

/* The field NAME (any case), the I-th of that name; NULL when none. */
const char *evapi_head_field(const struct evapi_head *h, const char *buf,
			     const char *name, size_t i);

/* Method name to id (0 when unknown). */
unsigned evapi_method_id(const char *m, size_t n);
/* The name of one EVAPI_* method bit. */
const char *evapi_method_name(unsigned id);

#endif
