/*
 * clock.h - the monotonic clock, in milliseconds, microseconds and
 * nanoseconds.
 */
#ifndef EVAPI_UTIL_CLOCK_H
#define EVAPI_UTIL_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Request durations: a fast answer takes well under a microsecond of
 * the loop's time, and a sum of whole microseconds would lose it. */
static inline uint64_t
evapi_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t
evapi_now_us(void)
{
	return evapi_now_ns() / 1000u;
}

static inline uint64_t
evapi_now_ms(void)
{
	return evapi_now_us() / 1000u;
}

#endif
