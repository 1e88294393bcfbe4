/*
 * health - liveness: GET /health answers 200 {"status":"ok"}.
 *
 * It touches nothing else (no database, no file, no allocation per
 * request): liveness must fail only when the process itself cannot serve,
 * or an orchestrator restarts healthy pods when a dependency blips.
 */
#include <evapi/plugin.h>

static const evapi_body *ok_body;

static void
health_get(evapi_request *req, void *state)
{
	(void)state;
	evapi_respond_body(req, 200, ok_body);
}

static int
health_init(evapi_ctx *ctx, void **state)
{
	(void)state;
	ok_body = evapi_body_json(ctx, "{\"status\":\"ok\"}");
	return ok_body != NULL ? EVAPI_OK : EVAPI_ERR;
}

static const struct evapi_route health_routes[] = {
	{EVAPI_GET, "/health", health_get, EVAPI_ROUTE_PROBE},
	EVAPI_ROUTES_END,
};

EVAPI_PLUGIN(health) = {
	EVAPI_PLUGIN_HEADER,
	.name = "health",
	.version = "2.0.0",
	.description = "liveness: GET /health, never touches a dependency",
	.routes = health_routes,
	.init = health_init,
};
