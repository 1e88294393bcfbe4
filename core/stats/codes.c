/*
 * codes.c - the values requests are counted by: status codes (each
 * registered code its own slot, the others by class) and the duration
 * buckets (stats.h).
 */
#include "config.h"

#include <string.h>

#include "stats.h"

/* The OpenTelemetry HTTP server duration boundaries (0.005 to 10 s) with
 * 0.5, 1 and 2.5 ms below them: evapi answers most requests in well under
 * 5 ms, where OpenTelemetry's first bucket would hold them all. */
#define MS UINT64_C(1000000) /* a millisecond in nanoseconds */
const uint64_t evapi_stats_bounds_ns[EVAPI_STATS_NBOUNDS] = {
	MS / 2,	  1 * MS,    5 * MS / 2, 5 * MS,    10 * MS,   25 * MS,
	50 * MS,  75 * MS,   100 * MS,	 250 * MS,  500 * MS,  750 * MS,
	1000 * MS, 2500 * MS, 5000 * MS, 7500 * MS, 10000 * MS,
};
const double evapi_stats_bounds_s[EVAPI_STATS_NBOUNDS] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1,
	0.25,	0.5,   0.75,   1,     2.5,  5,	   7.5,	 10,
};

/* IANA's registered codes from 200 (evapi answers 200 to 599). */
static const short registered[] = {
	200, 201, 202, 203, 204, 205, 206, 207, 208, 226, /* 10 */
	300, 301, 302, 303, 304, 305, 307, 308,		  /* 8 */
	400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410,
	411, 412, 413, 414, 415, 416, 417, 418, 421, 422, 423,
	424, 425, 426, 428, 429, 431, 451,		       /* 29 */
	500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511, /* 11 */
};
#define NREG (sizeof(registered) / sizeof(registered[0]))
#define CLASS_SLOT(c) (NREG + (unsigned)(c)-2) /* "2xx" .. "5xx" */

_Static_assert(NREG + 4 == EVAPI_STATS_NCODES, "EVAPI_STATS_NCODES");

static const char *const class_labels[] = {"2xx", "3xx", "4xx", "5xx"};

/* Slot of STATUS - 200, and the codes' text; built at setup, before
 * any loop runs, then only read. */
unsigned char evapi_stats_code_slots[400];
static char texts[NREG][4];

void
evapi_stats_codes_build(void)
{
	size_t i;

	for (i = 0; i < 400; i++)
		evapi_stats_code_slots[i] =
			(unsigned char)CLASS_SLOT(2 + i / 100);
	for (i = 0; i < NREG; i++) {
		evapi_stats_code_slots[registered[i] - 200] = (unsigned char)i;
		texts[i][0] = (char)('0' + registered[i] / 100);
		texts[i][1] = (char)('0' + registered[i] / 10 % 10);
		texts[i][2] = (char)('0' + registered[i] % 10);
		texts[i][3] = '\0';
	}
}

const char *
evapi_stats_code_label(unsigned index)
{
	if (index < NREG)
		return texts[index];
	if (index < EVAPI_STATS_NCODES)
		return class_labels[index - NREG];
	return "5xx";
}
