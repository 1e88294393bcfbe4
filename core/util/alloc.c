/*
 * alloc.c - a small-object cache for libevent's allocations.
 *
 * evhttp allocates and frees a dozen small objects per request (the
 * request, each header's key and value, evbuffer chains). With glibc that
 * is a quarter of the instructions of a /health request, and with musl's
 * allocator (the static build) more. libevent lets the application supply
 * its allocator (event_set_mem_functions), so evapi keeps per-thread free
 * lists of power-of-two size classes: a malloc or free on the hot path is a
 * pointer pop or push, with no lock. Each list is capped, so a burst does
 * not pin memory forever; larger blocks go straight to libc.
 *
 * Blocks carry a 16-byte header with their class, which keeps the payload
 * aligned for any type and lets free() and realloc() find the size. A block
 * may be freed by another thread than the one that allocated it; it then
 * joins that thread's list, which is fine for a cache.
 *
 * The core uses the same cache for its per-request objects (evapi_malloc),
 * and the static binary's json-c for its objects (json-alloc.c).
 * Under AddressSanitizer the cache is left out, so ASan sees every
 * allocation of libevent and of the core.
 */
#include "config.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "alloc.h"

#if defined(__SANITIZE_ADDRESS__)
#define EVAPI_NO_ALLOC_CACHE 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EVAPI_NO_ALLOC_CACHE 1
#endif
#endif

#ifndef EVAPI_NO_ALLOC_CACHE

#define HDR 16u        /* keeps max_align_t alignment of the payload */
#define MIN_SHIFT 5u   /* smallest class: 32 bytes, header included */
#define NCLASS 10u     /* largest class: 16 KiB */
#define LARGE 0xffffu

struct block {
	union {
		struct block *next; /* while on a free list */
		uint32_t cls;       /* while in use */
		unsigned char pad[HDR];
	} u;
};

/* How many free blocks a thread keeps per class: more small ones. */
static const unsigned short cap[NCLASS] = {1024, 1024, 1024, 512, 512,
					   256,  128,  64,   32,  16};

static __thread struct block *free_list[NCLASS];
static __thread unsigned short free_count[NCLASS];
static __thread int registered;
static pthread_key_t flush_key;
static pthread_once_t flush_once = PTHREAD_ONCE_INIT;

/* Give a finished thread's cached blocks back to libc. */
static void
flush(void *unused)
{
	unsigned c;

	(void)unused;
	for (c = 0; c < NCLASS; c++) {
		while (free_list[c] != NULL) {
			struct block *b = free_list[c];

			free_list[c] = b->u.next;
			free(b);
		}
		free_count[c] = 0;
	}
}

static void
make_key(void)
{
	pthread_key_create(&flush_key, flush);
}

/* First use on a thread: arrange for flush() when it ends. */
static void
register_thread(void)
{
	registered = 1;
	pthread_once(&flush_once, make_key);
	pthread_setspecific(flush_key, &registered);
}

/* The smallest class holding TOTAL bytes; NCLASS or more when none does. */
static unsigned
class_of(size_t total)
{
	unsigned bits;

	if (total <= ((size_t)1 << MIN_SHIFT))
		return 0;
	bits = (unsigned)(sizeof(unsigned long) * 8) -
	       (unsigned)__builtin_clzl((unsigned long)(total - 1));
	return bits - MIN_SHIFT;
}

static void *
cache_malloc(size_t n)
{
	size_t total = n + HDR;
	unsigned c = class_of(total);
	struct block *b;

	if (total < n)
		return NULL;
	if (!registered)
		register_thread();
	if (c >= NCLASS) {
		b = malloc(total);
		if (b == NULL)
			return NULL;
		b->u.cls = LARGE;
		return (unsigned char *)b + HDR;
	}
	b = free_list[c];
	if (b != NULL) {
		free_list[c] = b->u.next;
		free_count[c]--;
	} else {
		b = malloc((size_t)1 << (c + MIN_SHIFT));
		if (b == NULL)
			return NULL;
	}
	b->u.cls = c;
	return (unsigned char *)b + HDR;
}

static void
cache_free(void *p)
{
	struct block *b;
	uint32_t c;

	if (p == NULL)
		return;
	b = (struct block *)((unsigned char *)p - HDR);
	c = b->u.cls;
	if (c >= NCLASS || free_count[c] >= cap[c]) {
		free(b);
		return;
	}
	b->u.next = free_list[c];
	free_list[c] = b;
	free_count[c]++;
}

static void *
cache_realloc(void *p, size_t n)
{
	struct block *b;
	size_t have;
	void *q;

	if (p == NULL)
		return cache_malloc(n);
	b = (struct block *)((unsigned char *)p - HDR);
	if (b->u.cls == LARGE) {
		if (n + HDR < n)
			return NULL;
		b = realloc(b, n + HDR);
		return b ? (unsigned char *)b + HDR : NULL;
	}
	have = ((size_t)1 << (b->u.cls + MIN_SHIFT)) - HDR;
	if (n <= have)
		return p;
	q = cache_malloc(n);
	if (q == NULL)
		return NULL;
	memcpy(q, p, have);
	cache_free(p);
	return q;
}

void
evapi_alloc_install(void)
{
	/* Must precede every other libevent call. */
	event_set_mem_functions(cache_malloc, cache_realloc, cache_free);
}

void
evapi_alloc_flush(void)
{
	flush(NULL);
}

void *
evapi_malloc(size_t n)
{
	return cache_malloc(n);
}

void *
evapi_realloc(void *p, size_t n)
{
	return cache_realloc(p, n);
}

void
evapi_free(void *p)
{
	cache_free(p);
}

#else

void
evapi_alloc_install(void)
{
}

void
evapi_alloc_flush(void)
{
}

void *
evapi_malloc(size_t n)
{
	return malloc(n);
}

void *
evapi_realloc(void *p, size_t n)
{
	return realloc(p, n);
}

void
evapi_free(void *p)
{
	free(p);
}

#endif
