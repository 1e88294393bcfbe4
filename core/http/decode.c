/*
 * decode.c - percent-decoding and query strings (decode.h).
 */
#include "config.h"

#include <string.h>

#include "util/chars.h"
#include "decode.h"

long
evapi_pct_decode(const char *src, size_t n, char *dst, int form)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)src[i];

		if (c == '%') {
			int hi, lo;

			if (n - i < 3)
				return -1;
			hi = evapi_hexval((unsigned char)src[i + 1]);
			lo = evapi_hexval((unsigned char)src[i + 2]);
			if (hi < 0 || lo < 0 || (hi | lo) == 0)
				return -1;
			c = (unsigned char)(hi * 16 + lo);
			i += 2;
		} else if (c == '+' && form) {
			c = ' ';
		}
		dst[o++] = (char)c;
	}
	dst[o] = '\0';
	return (long)o;
}

size_t
evapi_query_count(const char *query, size_t n)
{
	size_t i, count = 1;

	for (i = 0; i < n; i++)
		if (query[i] == '&')
			count++;
	return count;
}

size_t
evapi_query_store_size(const char *query, size_t n)
{
	/* Every piece gets a NUL after its name and after its value. */
	return n + 2 * (evapi_query_count(query, n) + 1);
}

long
evapi_query_parse(const char *query, size_t n, char *store,
		  struct evapi_qpair *pairs, size_t max)
{
	size_t i = 0, np = 0, o = 0;

	while (i <= n) {
		const char *amp = memchr(query + i, '&', n - i);
		size_t end = amp ? (size_t)(amp - query) : n;
		const char *eq = memchr(query + i, '=', end - i);
		size_t nlen = eq ? (size_t)(eq - (query + i)) : end - i;
		long d;

		if (end > i && np < max) {
			pairs[np].name = store + o;
			d = evapi_pct_decode(query + i, nlen, store + o, 1);
			if (d < 0)
				return -1;
			o += (size_t)d + 1;
			pairs[np].value = store + o;
			if (eq != NULL)
				d = evapi_pct_decode(eq + 1,
						     end - (nlen + i + 1),
						     store + o, 1);
			else
				d = 0, store[o] = '\0';
			if (d < 0)
				return -1;
			o += (size_t)d + 1;
			np++;
		}
		i = end + 1;
	}
	return (long)np;
}
