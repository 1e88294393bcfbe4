/*
 * health - liveness: GET /health answers 200 {"status":"ok"}.
 *
 * It touches nothing else (no database, no file, no allocation per
 * request): liveness must fail only when the process itself cannot serve,
 * or an orchestrator restarts healthy pods when a dependency blips.
 */
#include <evapi/plugin.h>

struct health {
	const struct evapi_api *api;
	const evapi_body *ok;
};

static struct health health;

static void
health_get(struct evhttp_request *req, void *arg)
{
	struct health *h = arg;

	h->api->reply(req, 200, h->ok);
}

/* The same answer without a request: the host's fast path sends it. */
static const evapi_body *
health_answer(void *arg, int *status)
{
	struct health *h = arg;

	*status = 200;
	return h->ok;
}

static int
health_init(const struct evapi_api *api, evapi_host *host, void **state)
{
	health.api = api;
	health.ok = api->body_json(host, "{\"status\":\"ok\"}");
	if (health.ok == NULL)
		return EVAPI_ERR;
	*state = &health;
	if (api->route(host, EVAPI_METHOD_GET, "/health", health_get,
		       &health) != EVAPI_OK)
		return EVAPI_ERR;
	/* A host older than ABI 1.1 runs the handler for every request. */
	if (EVAPI_API_HAS(api, route_answer))
		return api->route_answer(host, "/health", health_answer,
					 &health);
	return EVAPI_OK;
}

EVAPI_PLUGIN(health) = {
	EVAPI_PLUGIN_HEADER,
	.name = "health",
	.version = "1.0.0",
	.description = "liveness: GET /health, never touches a dependency",
	.init = health_init,
};
