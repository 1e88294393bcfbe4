/*
 * test-util.c - the allocator json-c is given in the static binary
 * (core/util/json-alloc.c), the json-c objects built on it, and the
 * duration buckets the counters keep in nanoseconds (core/stats).
 */
#include "config.h"

#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include <json-c/json.h>

#include "stats/stats.h"
#include "tap.h"
#include "util/alloc.h"
#include "util/json-alloc.h"

static int
jc_asprintf(char **out, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = evapi_json_vasprintf(out, fmt, ap);
	va_end(ap);
	return n;
}

static void
test_json_alloc(void)
{
	unsigned char *z;
	char *s, *big;
	size_t i, zero = 1;

	z = evapi_json_calloc(40, 16);
	for (i = 0; z != NULL && i < 640; i++)
		zero &= z[i] == 0;
	ok(z != NULL && zero, "calloc: 640 zeroed bytes");
	z = evapi_realloc(z, 5000);
	ok(z != NULL && z[639] == 0, "realloc keeps the contents");
	evapi_free(z);
	ok(evapi_json_calloc(SIZE_MAX / 8, 16) == NULL,
	   "calloc: a size that overflows is refused");
	s = evapi_json_strdup("Bonjour, W\xc3\xb6rld");
	is_str(s, "Bonjour, W\xc3\xb6rld", "strdup");
	evapi_free(s);
	ok(jc_asprintf(&s, "%s-%d", "a", 42) == 4, "vasprintf: the length");
	is_str(s, "a-42", "vasprintf: the text");
	evapi_free(s);
	big = evapi_malloc(70000); /* past the cache's classes */
	ok(big != NULL, "a large block");
	memset(big, 'x', 69999);
	big[69999] = '\0';
	ok(jc_asprintf(&s, "%s", big) == 69999 && s[69998] == 'x',
	   "vasprintf: a long text");
	evapi_free(s);
	evapi_free(big);
	evapi_free(NULL);
	ok(1, "free(NULL)");
}

/* Whatever allocator json-c was linked with (the cache in the static
 * build), objects built, printed and freed many times stay sound. */
static void
test_json_objects(void)
{
	const char *text = NULL;
	int i, good = 1;

	for (i = 0; i < 2000 && good; i++) {
		json_object *o = json_object_new_object();
		json_object *a = json_object_new_array();

		json_object_array_add(a, json_object_new_string("t"));
		json_object_object_add(o, "message",
				       json_object_new_string("Hallo, W\xc3\xb6rld"));
		json_object_object_add(o, "tags", a);
		text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
		good = strcmp(text, "{\"message\":\"Hallo, W\xc3\xb6rld\","
				    "\"tags\":[\"t\"]}") == 0;
		json_object_put(o);
	}
	ok(good, "2000 objects built, printed and freed");
}

/* The nanosecond bounds the counters compare with are the second bounds
 * /metrics prints as le. */
static void
test_duration_bounds(void)
{
	unsigned i, same = 1;

	for (i = 0; i < EVAPI_STATS_NBOUNDS; i++)
		same &= evapi_stats_bounds_ns[i] ==
			(uint64_t)(evapi_stats_bounds_s[i] * 1e9 + 0.5);
	ok(same, "duration bounds: nanoseconds = seconds as printed");
	ok(evapi_stats_bounds_ns[EVAPI_STATS_NBOUNDS - 1] == 10000000000ull,
	   "the last bound is 10 s");
}

/* Fast answers add up: the sum keeps the nanoseconds under a microsecond. */
static void
test_duration_sum(void)
{
	struct evapi_loop_stats *st;
	struct evapi_route_stats *rs;
	int i;

	ok(evapi_stats_setup(1) == EVAPI_OK &&
		   evapi_stats_routes(1, NULL, NULL) == EVAPI_OK,
	   "counters for one loop and one route");
	st = evapi_stats_loop(0);
	for (i = 0; i < 10; i++)
		evapi_stats_request(st, 0, 0, 200, 350);
	evapi_stats_request(st, 0, 0, 200, 2000000);
	rs = st->routes[0];
	ok(rs != NULL && evapi_stat_get(&rs->sum_us) == 2003 &&
		   evapi_stat_get(&rs->sum_rem_ns) == 500,
	   "ten answers of 350 ns and one of 2 ms: 2003 us and 500 ns");
	ok(rs != NULL && evapi_stat_get(&rs->buckets[0]) == 10 &&
		   evapi_stat_get(&rs->buckets[2]) == 1,
	   "buckets: ten under 0.5 ms, the 2 ms one under 2.5 ms");
	evapi_stats_free();
}

int
main(void)
{
	test_json_alloc();
	test_json_objects();
	test_duration_bounds();
	test_duration_sum();
	return tap_done();
}
