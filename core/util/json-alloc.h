/*
 * json-alloc.h - what json-c calls instead of libc's allocator in the
 * static binary, besides evapi_malloc, evapi_realloc and evapi_free
 * (json-alloc.c, json-alloc.syms).
 */
#ifndef EVAPI_UTIL_JSON_ALLOC_H
#define EVAPI_UTIL_JSON_ALLOC_H

#include <stdarg.h>
#include <stddef.h>

void *evapi_json_calloc(size_t n, size_t size);
char *evapi_json_strdup(const char *s);
int evapi_json_vasprintf(char **out, const char *fmt, va_list ap);

#endif
