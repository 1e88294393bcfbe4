/*
 * fastpath.h - the request heads evapi answers without evhttp.
 *
 * A GET or HEAD whose whole head arrived in one read, in a strict subset
 * of HTTP/1.x, on a route whose plugin gave a request-free answer (see
 * api->route_answer), is answered straight from the connection's input
 * callback (conns.c): no evhttp request, no header list, no printf, one
 * write. Anything outside the subset, however legal, goes to evhttp as
 * before, so the subset only has to be right, not complete.
 *
 * Pure functions over bytes: no libevent, no allocation, no global state,
 * so the unit tests and a fuzzer drive them directly.
 */
#ifndef EVAPI_FASTPATH_H
#define EVAPI_FASTPATH_H

#include <stddef.h>

/* Longest head served here; longer ones go to evhttp. */
#define EVAPI_FAST_MAX_HEAD 4096

struct evapi_fastreq {
	int head;              /* HEAD, else GET */
	int minor;             /* HTTP/1.0 or HTTP/1.1 */
	int close;             /* the connection closes after the answer */
	int keepalive_header;  /* HTTP/1.0 with Connection: keep-alive */
	int conn_close_header; /* Connection: close was asked */
	const char *target;    /* the request target, not NUL-terminated */
	size_t target_len;
};

/* 1 when BUF (LEN bytes) is exactly one request head in the subset and
 * passes reqcheck.c; 0 for anything else, including an incomplete head. */
int evapi_fast_parse(const char *buf, size_t len, struct evapi_fastreq *r);

/* The status line and headers evhttp would send (byte for byte, so both
 * paths answer alike) for a reply of STATUS with a BODYLEN-byte JSON body
 * to R, dated DATE. Returns the length written to OUT, or 0 when it does
 * not fit or STATUS has no reason phrase here. */
size_t evapi_fast_head(char *out, size_t outlen,
		       const struct evapi_fastreq *r, int status,
		       const char *content_length, const char *date);

#endif /* EVAPI_FASTPATH_H */
