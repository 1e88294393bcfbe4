/*
 * version - build facts: GET /version.
 *
 * Everything it reports is fixed once the server has started, so the body
 * is built once, at init, and every request sends the same bytes.
 */
#include <stdio.h>

#include <json-c/json.h>

#include <evapi/plugin.h>

struct version {
	const struct evapi_api *api;
	const evapi_body *body;
};

static struct version version;

static void
version_get(struct evhttp_request *req, void *arg)
{
	struct version *v = arg;

	v->api->reply(req, 200, v->body);
}

/* The same answer without a request: the host's fast path sends it. */
static const evapi_body *
version_answer(void *arg, int *status)
{
	struct version *v = arg;

	*status = 200;
	return v->body;
}

static void
add_fact(const struct evapi_api *api, evapi_host *host, json_object *o,
	 const char *json_key, const char *fact)
{
	const char *val = api->fact(host, fact);

	json_object_object_add(o, json_key,
			       json_object_new_string(val ? val : ""));
}

static json_object *
plugin_list(const struct evapi_api *api, evapi_host *host)
{
	const char *s = api->fact(host, "plugins");
	json_object *a = json_object_new_array();
	const char *p = s ? s : "";

	while (*p != '\0') {
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
version_init(const struct evapi_api *api, evapi_host *host, void **state)
{
	json_object *o = json_object_new_object(), *libs;
	int rc = EVAPI_ERR;

	if (o == NULL)
		return EVAPI_ERR;
	json_object_object_add(o, "name", json_object_new_string("evapi"));
	add_fact(api, host, o, "version", "version");
	add_fact(api, host, o, "commit", "commit");
	add_fact(api, host, o, "build_date", "build_date");
	add_fact(api, host, o, "build", "build");
	add_fact(api, host, o, "environment", "environment");
	json_object_object_add(o, "plugins", plugin_list(api, host));
	libs = json_object_new_object();
	add_fact(api, host, libs, "libevent", "libevent");
	add_fact(api, host, libs, "json-c", "json-c");
	json_object_object_add(o, "libraries", libs);

	version.api = api;
	version.body = api->body_json(
		host, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	if (version.body == NULL)
		goto out;
	*state = &version;
	rc = api->route(host, EVAPI_METHOD_GET, "/version", version_get,
			&version);
	/* A host older than ABI 1.1 runs the handler for every request. */
	if (rc == EVAPI_OK && EVAPI_API_HAS(api, route_answer))
		rc = api->route_answer(host, "/version", version_answer,
				       &version);
out:
	json_object_put(o);
	return rc;
}

EVAPI_PLUGIN(version) = {
	EVAPI_PLUGIN_HEADER,
	.name = "version",
	.version = "1.0.0",
	.description = "build facts: GET /version",
	.init = version_init,
};
