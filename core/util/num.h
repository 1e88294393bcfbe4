/*
 * num.h - the number parsers every variable and header uses: digits only,
 * no sign, no space, no overflow.
 */
#ifndef EVAPI_UTIL_NUM_H
#define EVAPI_UTIL_NUM_H

#include <stddef.h>
#include <stdint.h>

/* S as a decimal number in [MIN, MAX]: EVAPI_OK or EVAPI_ERR. */
int evapi_parse_uint(const char *s, unsigned long min, unsigned long max,
		     unsigned long *out);
/* The same over N bytes, for 64-bit values. */
int evapi_parse_u64(const char *s, size_t n, uint64_t max, uint64_t *out);
/* "auto" (*OUT = 0) or a number in [MIN, MAX]. */
int evapi_parse_auto_uint(const char *s, unsigned long min, unsigned long max,
			  unsigned long *out);
/* A duration: a number of ms, or with a unit ms, s, m, h; in ms. */
int evapi_parse_duration_ms(const char *s, uint64_t *out);
/* Decimal text of V in OUT (at least 21 bytes); returns its length. */
size_t evapi_u64_text(uint64_t v, char *out);

#endif
