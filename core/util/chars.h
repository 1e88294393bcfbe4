/*
 * chars.h - the character classes of HTTP (RFC 9110, 9112) and URIs
 * (RFC 3986), in one table, and small ASCII helpers. Locale-independent
 * on purpose.
 */
#ifndef EVAPI_UTIL_CHARS_H
#define EVAPI_UTIL_CHARS_H

#include <stddef.h>

#define EVAPI_CH_TCHAR 0x01u  /* token: a method, a header name */
#define EVAPI_CH_FIELD 0x02u  /* field-value byte: VCHAR, obs-text, SP, HTAB */
#define EVAPI_CH_HEX 0x04u    /* HEXDIG */
#define EVAPI_CH_TARGET 0x08u /* request-target: VCHAR without '#' */
#define EVAPI_CH_HOST 0x10u   /* Host: reg-name, IPv4, [IPv6], ':' port */
#define EVAPI_CH_UNRES 0x20u  /* unreserved: ALPHA DIGIT - . _ ~ */

extern const unsigned char evapi_chars[256];

static inline int
evapi_ch(unsigned char c, unsigned cls)
{
	return (evapi_chars[c] & cls) != 0;
}

/* The value of a hex digit, or -1. */
int evapi_hexval(unsigned char c);
/* S (N bytes) equals LOWER (lower case, NUL-terminated) ignoring ASCII
 * case. */
int evapi_ieq(const char *s, size_t n, const char *lower);
/* A and B (N bytes each) equal ignoring ASCII case. */
int evapi_memeqi(const char *a, const char *b, size_t n);
/* Two NUL-terminated strings equal ignoring ASCII case. */
int evapi_streqi(const char *a, const char *b);

#endif
