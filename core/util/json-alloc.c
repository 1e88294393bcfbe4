/*
 * json-alloc.c - json-c's allocations through the small-object cache, in
 * the static binary.
 *
 * A handler that answers with a json-c object makes and frees about ten
 * small blocks per request (the object, its hash table, each key and
 * string, the print buffer). musl's allocator, the one a static binary
 * has, spends as many instructions on them as the rest of the request.
 * json-c has no allocator hook, so the static link renames its calls
 * (objcopy --redefine-syms with json-alloc.syms): malloc, realloc and
 * free become the cache's own evapi_malloc, evapi_realloc and evapi_free,
 * and calloc, strdup and vasprintf the functions below. Every function
 * through which json-c gets or gives back memory is renamed together,
 * vasprintf and strdup included, so none of json-c's own blocks crosses
 * from one allocator to the other. The one way in from outside is
 * userdata json-c frees itself (json_object_free_userdata): a plugin
 * gives its own user_delete instead (docs/plugins.md). The dynamic build
 * links json-c unchanged.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "json-alloc.h"

void *
evapi_json_calloc(size_t n, size_t size)
{
	void *p;

	if (size != 0 && n > (size_t)-1 / size)
		return NULL;
	p = evapi_malloc(n * size);
	if (p != NULL)
		memset(p, 0, n * size);
	return p;
}

char *
evapi_json_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = evapi_malloc(n);

	if (d != NULL)
		memcpy(d, s, n);
	return d;
}

int
evapi_json_vasprintf(char **out, const char *fmt, va_list ap)
{
	va_list again;
	int n;

	/* Measure, then print: the block must come from the cache. */
	va_copy(again, ap);
	n = vsnprintf(NULL, 0, fmt, again);
	va_end(again);
	if (n < 0 || (*out = evapi_malloc((size_t)n + 1)) == NULL)
		return -1;
	if (vsnprintf(*out, (size_t)n + 1, fmt, ap) != n) {
		evapi_free(*out);
		*out = NULL;
		return -1;
	}
	return n;
}
