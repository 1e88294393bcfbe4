/*
 * validate.h - an item as a client sends it (POST and PUT bodies),
 * checked field by field (validate.c).
 */
#ifndef EVAPI_ITEMS_VALIDATE_H
#define EVAPI_ITEMS_VALIDATE_H

#include <stddef.h>

struct json_object;

#define ITEM_NAME_MAX 200
#define ITEM_TAGS_MAX 20
#define ITEM_TAG_MAX 50
#define ITEM_PRICE_MAX 9007199254740991LL /* 2^53 - 1: exact in JSON */

struct item_in {
	const char *name; /* borrowed from the body */
	long long price_cents;
	const char *tags; /* a JSON array of strings, for $::jsonb (owned
			     by the body) */
};

/* Check BODY. 0 and *IN filled; or -1 with *ERRORS a new JSON object
 * naming every bad field ({"name":"required", ...}) and *WHY the error
 * message. */
int item_validate(struct json_object *body, struct item_in *in,
		  struct json_object **errors, const char **why);

/* A positive 64-bit integer in decimal ("1" to "9223372036854775807");
 * ZERO_OK also takes "0". */
int item_id_ok(const char *s, int zero_ok);

#endif
