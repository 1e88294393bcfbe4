/*
 * validate.c - an item as a client sends it (validate.h).
 *
 * Lengths are in characters (Unicode code points), as users count them;
 * the host has checked that the body is valid UTF-8 JSON. A string with a
 * NUL (\u0000) is refused: PostgreSQL's text cannot hold one.
 */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "validate.h"

/* Code points of S (LEN bytes of valid UTF-8). */
static size_t
chars(const char *s, size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			n++;
	return n;
}

/* A string of MIN to MAX characters without NUL; its text, or NULL. */
static const char *
text_field(struct json_object *v, size_t min, size_t max)
{
	const char *s;
	size_t len, n;

	if (!json_object_is_type(v, json_type_string))
		return NULL;
	s = json_object_get_string(v);
	len = (size_t)json_object_get_string_len(v);
	if (strlen(s) != len)
		return NULL;
	n = chars(s, len);
	return n >= min && n <= max ? s : NULL;
}

static void
bad(struct json_object *errors, const char *field, const char *why)
{
	json_object_object_add(errors, field, json_object_new_string(why));
}

static void
check_price(struct json_object *v, struct item_in *in,
	    struct json_object *errors)
{
	long long p;

	if (v == NULL) {
		bad(errors, "price_cents", "required");
		return;
	}
	if (!json_object_is_type(v, json_type_int)) {
		bad(errors, "price_cents", "must be an integer");
		return;
	}
	p = (long long)json_object_get_int64(v);
	/* Beyond int64 json-c saturates: caught by the range too. */
	if (p < 0 || p > ITEM_PRICE_MAX ||
	    json_object_get_uint64(v) > (uint64_t)ITEM_PRICE_MAX) {
		bad(errors, "price_cents",
		    "must be from 0 to 9007199254740991");
		return;
	}
	in->price_cents = p;
}

static void
check_tags(struct json_object *v, struct item_in *in,
	   struct json_object *errors)
{
	size_t i, n;

	in->tags = "[]";
	if (v == NULL)
		return;
	if (!json_object_is_type(v, json_type_array) ||
	    (n = json_object_array_length(v)) > ITEM_TAGS_MAX) {
		bad(errors, "tags", "must be an array of at most 20 strings");
		return;
	}
	for (i = 0; i < n; i++)
		if (text_field(json_object_array_get_idx(v, i), 1,
			       ITEM_TAG_MAX) == NULL) {
			bad(errors, "tags",
			    "each tag must be a string of 1 to 50 characters");
			return;
		}
	/* Re-serialised: what PostgreSQL reads is JSON json-c wrote. */
	in->tags = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
}

int
item_validate(struct json_object *body, struct item_in *in,
	      struct json_object **errors, const char **why)
{
	struct json_object *e, *v;

	memset(in, 0, sizeof(*in));
	*errors = NULL;
	if (!json_object_is_type(body, json_type_object)) {
		*errors = json_object_new_object();
		*why = "the body must be a JSON object";
		return -1;
	}
	e = json_object_new_object();
	if (!json_object_object_get_ex(body, "name", &v))
		bad(e, "name", "required");
	else if ((in->name = text_field(v, 1, ITEM_NAME_MAX)) == NULL)
		bad(e, "name", "must be a string of 1 to 200 characters");
	check_price(json_object_object_get_ex(body, "price_cents", &v) ? v
								       : NULL,
		    in, e);
	check_tags(json_object_object_get_ex(body, "tags", &v) ? v : NULL, in,
		   e);
	json_object_object_foreach(body, key, val)
	{
		(void)val;
		if (strcmp(key, "name") != 0 &&
		    strcmp(key, "price_cents") != 0 && strcmp(key, "tags") != 0)
			bad(e, key, "unknown field");
	}
	if (json_object_object_length(e) == 0) {
		json_object_put(e);
		return 0;
	}
	*errors = e;
	*why = "invalid fields";
	return -1;
}

int
item_id_ok(const char *s, int zero_ok)
{
	static const char max[] = "9223372036854775807";
	size_t n;

	if (s == NULL || (n = strspn(s, "0123456789")) == 0 || s[n] != '\0')
		return 0;
	while (n > 1 && *s == '0') {
		s++;
		n--;
	}
	if (n > sizeof(max) - 1 || (n == sizeof(max) - 1 && strcmp(s, max) > 0))
		return 0;
	return zero_ok || strcmp(s, "0") != 0;
}
