/*
 * version - build facts: GET /version.
 *
 * Everything it reports is fixed once the server has started, so the body
 * is built once, at init, and every request sends the same bytes.
 */
#include <json-c/json.h>

#include <evapi/plugin.h>

static const evapi_body *version_body;

static void
version_get(evapi_request *req, void *state)
{
	(void)state;
	evapi_respond_body(req, 200, version_body);
}

static void
add_fact(evapi_ctx *ctx, json_object *o, const char *key, const char *fact)
{
	const char *val = evapi_fact(ctx, fact);

	json_object_object_add(o, key, json_object_new_string(val ? val : ""));
}

/* "a,b,c" as a JSON array. */
static json_object *
plugin_list(evapi_ctx *ctx)
{
	const char *p = evapi_fact(ctx, "plugins");
	json_object *a = json_object_new_array();

	while (p != NULL && *p != '\0') {
		const char *comma = p;

		while (*comma != '\0' && *comma != ',')
			comma++;
		json_object_array_add(a, json_object_new_string_len(
						 p, (int)(comma - p)));
		p = *comma ? comma + 1 : comma;
	}
	return a;
}

static int
version_init(evapi_ctx *ctx, void **state)
{
	json_object *o = json_object_new_object(), *libs;

	(void)state;
	if (o == NULL)
		return EVAPI_ERR;
	json_object_object_add(o, "name", json_object_new_string("evapi"));
	add_fact(ctx, o, "version", "version");
	add_fact(ctx, o, "commit", "commit");
	add_fact(ctx, o, "build_date", "build_date");
	add_fact(ctx, o, "build", "build");
	add_fact(ctx, o, "environment", "environment");
	json_object_object_add(o, "plugins", plugin_list(ctx));
	libs = json_object_new_object();
	add_fact(ctx, libs, "libevent", "libevent");
	add_fact(ctx, libs, "json-c", "json-c");
	json_object_object_add(o, "libraries", libs);
	version_body = evapi_body_json(
		ctx, json_object_to_json_string_ext(
			     o, JSON_C_TO_STRING_PLAIN |
					JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return version_body != NULL ? EVAPI_OK : EVAPI_ERR;
}

static const struct evapi_route version_routes[] = {
	{EVAPI_GET, "/version", version_get, EVAPI_ROUTE_PROBE},
	EVAPI_ROUTES_END,
};

EVAPI_PLUGIN(version) = {
	EVAPI_PLUGIN_HEADER,
	.name = "version",
	.version = "2.0.0",
	.description = "build facts: GET /version",
	.routes = version_routes,
	.init = version_init,
};
