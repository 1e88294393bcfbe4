/*
 * response.h - where replies are written: the one function that writes
 * every response head evapi sends, on every path (a request evapi served
 * itself, one evhttp read the body of, one answered as its connection
 * was accepted, a refusal of bytes the gate would not pass).
 */
#ifndef EVAPI_HTTP_RESPONSE_H
#define EVAPI_HTTP_RESPONSE_H

#include <stddef.h>
#include <stdint.h>

struct evapi_rheader;

struct evapi_head_out {
	int minor;  /* 1, or 0 to answer a well-formed HTTP/1.0 request */
	int status; /* 200 to 599 */
	const char *content_type;   /* NULL: none */
	int has_length;
	uint64_t length;            /* Content-Length */
	const struct evapi_rheader *extra; /* the plugin's headers */
	const char *request_id;     /* X-Request-Id, or NULL */
	int close;                  /* Connection: close */
	int keepalive;              /* Connection: keep-alive (HTTP/1.0) */
};

/* Write H's head into OUT when it fits in CAP bytes; returns its length
 * either way (more than CAP: OUT holds nothing usable, call again with
 * that much room). OUT may be NULL with CAP 0 to learn the length. */
size_t evapi_head_write(char *out, size_t cap, const struct evapi_head_out *h);
/* The Date header's value, formatted once a second per thread. */
const char *evapi_http_date(void);
/* {"error":MESSAGE,"status":STATUS,"request_id":ID}\n into OUT (LEN
 * bytes; EVAPI_ERROR_JSON_MAX is always enough, a longer MESSAGE is cut);
 * without "request_id" when ID is NULL. Returns its length. */
#define EVAPI_ERROR_JSON_MAX 1024
size_t evapi_error_json(char *out, size_t len, int status, const char *message,
			const char *id);

#endif
