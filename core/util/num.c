/*
 * num.c - number parsers (num.h).
 */
#include "config.h"

#include <string.h>

#include <evapi/plugin.h>

#include "num.h"

int
evapi_parse_u64(const char *s, size_t n, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (s == NULL || n == 0 || n > 20)
		return EVAPI_ERR;
	for (i = 0; i < n; i++) {
		unsigned d = (unsigned char)s[i] - '0';

		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return EVAPI_ERR;
		v = v * 10 + d;
	}
	if (v > max)
		return EVAPI_ERR;
	*out = v;
	return EVAPI_OK;
}

int
evapi_parse_uint(const char *s, unsigned long min, unsigned long max,
		 unsigned long *out)
{
	uint64_t v;

	if (s == NULL ||
	    evapi_parse_u64(s, strlen(s), (uint64_t)max, &v) != EVAPI_OK ||
	    v < min)
		return EVAPI_ERR;
	*out = (unsigned long)v;
	return EVAPI_OK;
}

int
evapi_parse_auto_uint(const char *s, unsigned long min, unsigned long max,
		      unsigned long *out)
{
	if (s != NULL && strcmp(s, "auto") == 0) {
		*out = 0;
		return EVAPI_OK;
	}
	return evapi_parse_uint(s, min, max, out);
}

int
evapi_parse_duration_ms(const char *s, uint64_t *out)
{
	static const struct {
		const char *unit;
		uint64_t ms;
	} units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}};
	size_t n, i;
	uint64_t v;

	if (s == NULL)
		return EVAPI_ERR;
	n = strspn(s, "0123456789");
	if (evapi_parse_u64(s, n, UINT64_MAX / 3600000, &v) != EVAPI_OK)
		return EVAPI_ERR;
	if (s[n] == '\0') {
		*out = v;
		return EVAPI_OK;
	}
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(s + n, units[i].unit) == 0) {
			*out = v * units[i].ms;
			return EVAPI_OK;
		}
	return EVAPI_ERR;
}

size_t
evapi_u64_text(uint64_t v, char *out)
{
	char tmp[21];
	size_t n = 0, i;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	for (i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	out[n] = '\0';
	return n;
}
