/*
 * fuzz-items.c - the items plugin's parsing of what clients send: JSON
 * bodies through item_validate, If-Match and If-None-Match lists, and
 * item ids. The first byte picks which; the rest is the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "../../plugins/items/etag.h"
#include "../../plugins/items/validate.h"

static size_t
chars(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			n++;
	return n;
}

static void
body(const char *s, size_t len)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *obj, *errors = NULL, *tags;
	struct item_in in;
	const char *why;

	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
					    JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, s, (int)len);
	json_tokener_free(tok);
	if (obj == NULL)
		return;
	if (item_validate(obj, &in, &errors, &why) == 0) {
		/* Accepted: every rule holds. */
		if (in.name == NULL || chars(in.name) < 1 ||
		    chars(in.name) > ITEM_NAME_MAX || in.price_cents < 0 ||
		    in.price_cents > ITEM_PRICE_MAX || errors != NULL)
			abort();
		tags = json_tokener_parse(in.tags);
		if (tags == NULL ||
		    !json_object_is_type(tags, json_type_array) ||
		    json_object_array_length(tags) > ITEM_TAGS_MAX)
			abort();
		json_object_put(tags);
	} else if (errors == NULL || why == NULL) {
		abort();
	}
	json_object_put(errors);
	json_object_put(obj);
}

static void
if_match(const char *s)
{
	char out[512];
	size_t n;

	if (etag_match_versions(s, "42", out, sizeof(out)) == 0)
		return;
	n = strlen(out);
	if (n < 2 || out[0] != '{' || out[n - 1] != '}' ||
	    strspn(out + 1, "0123456789,") != n - 2)
		abort();
}

static void
id(const char *s)
{
	if (item_id_ok(s, 0) && (strspn(s, "0123456789") != strlen(s) ||
				 strtoull(s, NULL, 10) == 0))
		abort();
	(void)item_id_ok(s, 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (size < 1 || size > 65536)
		return 0;
	s = malloc(size);
	if (s == NULL)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	switch (data[0] % 4) {
	case 0:
		body(s, size - 1);
		break;
	case 1:
		if_match(s);
		break;
	case 2:
		(void)etag_none_match(s, "\"42-7\"");
		break;
	default:
		id(s);
		break;
	}
	free(s);
	return 0;
}
