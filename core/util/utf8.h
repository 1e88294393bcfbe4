/*
 * utf8.h - UTF-8 validity, for decoded paths and metric text. A pure
 * function over bytes.
 */
#ifndef EVAPI_UTIL_UTF8_H
#define EVAPI_UTIL_UTF8_H

#include <stddef.h>

/* S (N bytes) is well-formed UTF-8 (no overlong forms, no surrogates,
 * nothing above U+10FFFF). */
int evapi_utf8_valid(const char *s, size_t n);

#endif
