/*
 * alloc.h - a per-thread small-object cache, for libevent's allocations,
 * the core's own per-request objects, and json-c's in the static binary
 * (json-alloc.c).
 */
#ifndef EVAPI_UTIL_ALLOC_H
#define EVAPI_UTIL_ALLOC_H

#include <stddef.h>

/* Hand libevent the cache; call before any libevent function. */
void evapi_alloc_install(void);
/* Return the calling thread's cached blocks to libc. */
void evapi_alloc_flush(void);
/* The cache itself (plain malloc/free under AddressSanitizer). */
void *evapi_malloc(size_t n);
void *evapi_realloc(void *p, size_t n);
void evapi_free(void *p);

#endif
