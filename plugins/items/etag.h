/*
 * etag.h - an item's entity tag, "ID-VERSION", and the conditional
 * headers that name it (etag.c).
 */
#ifndef EVAPI_ITEMS_ETAG_H
#define EVAPI_ITEMS_ETAG_H

#include <stddef.h>

/* "\"ID-VERSION\"" into OUT. */
void etag_format(char *out, size_t outlen, const char *id, const char *version);

/* If-Match (strong comparison, RFC 9110 13.1.1) as a PostgreSQL bigint[]
 * of the versions it names for item ID, into OUT: "{3,4}", or "{}" when
 * none can match. Returns 0 for "*" (any version: no condition), 1 when
 * OUT holds a list. */
int etag_match_versions(const char *header, const char *id, char *out,
			size_t outlen);

/* If-None-Match (weak comparison, 13.1.2) against the current ETAG. */
int etag_none_match(const char *header, const char *etag);

#endif
