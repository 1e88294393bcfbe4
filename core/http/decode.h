/*
 * decode.h - what a URI's bytes mean: percent-decoding (RFC 3986 2.1), the
 * query string's name=value pairs (as HTML forms write them: '+' is a
 * space). Pure functions over bytes.
 */
#ifndef EVAPI_HTTP_DECODE_H
#define EVAPI_HTTP_DECODE_H

#include <stddef.h>

/* Decode N bytes of SRC into DST (room for N + 1; NUL-terminated), '+'
 * as a space when FORM. Returns the decoded length, or -1 for a '%' not
 * followed by two hex digits, or one that decodes to NUL. */
long evapi_pct_decode(const char *src, size_t n, char *dst, int form);

/* One pair of a query string, decoded. */
struct evapi_qpair {
	const char *name, *value;
};
/* Split QUERY (N bytes, after the '?') at '&' into pairs, decoded into
 * STORE (at least N + 2 * (pairs + 1) bytes: query_store_size). Returns the
 * number of pairs (at most MAX written to PAIRS), or -1 for a bad escape
 * or an escaped NUL. Empty pieces ("a&&b") are skipped. */
long evapi_query_parse(const char *query, size_t n, char *store,
		       struct evapi_qpair *pairs, size_t max);
/* How many pairs QUERY has at most, and the bytes evapi_query_parse
 * needs to store them. */
size_t evapi_query_count(const char *query, size_t n);
size_t evapi_query_store_size(const char *query, size_t n);

#endif
