/*
 * reqcheck.h - the checks every request passes before any handler runs.
 *
 * Pure functions over the parsed request (method, target, version and the
 * header list as evhttp stored them): no libevent, no allocation, no global
 * state, so the unit tests and the fuzzer drive them directly. The checker
 * is streaming (start, one call per header, finish) so the server feeds it
 * straight from evhttp's header list without copying.
 */
#ifndef EVAPI_REQCHECK_H
#define EVAPI_REQCHECK_H

#include <stddef.h>

struct evapi_reqcheck {
	int http11;        /* HTTP/1.1: exactly one Host is required */
	unsigned n_host;
	unsigned n_length;
	int status;        /* 0 while the request is acceptable */
	const char *why;   /* static text naming the first problem */
};

void evapi_reqcheck_start(struct evapi_reqcheck *c, const char *method,
			  const char *target, int major, int minor);
void evapi_reqcheck_header(struct evapi_reqcheck *c, const char *name,
			   const char *value);
/* 0 when the request may reach a handler, else the status to answer
 * (400, 501 for CONNECT, 505); c->why names the reason. */
int evapi_reqcheck_finish(struct evapi_reqcheck *c);

/* The raw bytes of a connection, as they arrive. evhttp cuts a header
 * value at a NUL byte (dropping the rest without a word) and joins an
 * obs-fold continuation line to the previous value with a space, so
 * neither is visible in what it hands to the gencb. STATE starts at 0 for
 * a connection; returns the EVAPI_RAW_* flags found in DATA. */
#define EVAPI_RAW_NUL 1u
#define EVAPI_RAW_FOLD 2u
unsigned evapi_reqcheck_scan(unsigned *state, const void *data, size_t len);
/* The reason for flags FOUND, or NULL when there is none. */
const char *evapi_reqcheck_raw_why(unsigned found);

/* RFC 9110 5.6.2 tchar: a byte of a header name or a method. */
int evapi_is_tchar(unsigned char c);

/* All in one: HEADERS holds N name/value pairs (2 * N strings). */
int evapi_reqcheck(const char *method, const char *target, int major,
		   int minor, const char *const *headers, size_t n,
		   const char **why);

#endif /* EVAPI_REQCHECK_H */
