/*
 * plugins.c - the host side of the plugin contract: descriptor checks, the
 * api table handed to init, and the init/fini sequence. Finding the
 * descriptor is the loader's job (loader-dl.c or loader-builtin.c).
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/http.h>
#include <json-c/json.h>

#include "evapi-internal.h"

/* Smallest descriptor the host accepts: ABI 1.0 ends after fini. */
#define DESC_MIN_SIZE                                                          \
	(offsetof(struct evapi_plugin, fini) + sizeof(void (*)(void *)))

struct field_diff {
	const char *field;
	unsigned long host, plugin;
};

static void
report(const char *name, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
report(const char *name, const char *path, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	evapi_err("plugin \"%s\" (%s): %s", name, path, msg);
}

int
evapi_plugin_check(const struct evapi_plugin *p, const char *name,
		   const char *path)
{
	struct field_diff d[8];
	size_t nd = 0, i;

	if (p->magic != EVAPI_PLUGIN_MAGIC) {
		report(name, path,
		       "bad magic 0x%08lx, expected 0x%08lx: the descriptor "
		       "evapi_plugin_%s is not an evapi plugin descriptor",
		       (unsigned long)p->magic,
		       (unsigned long)EVAPI_PLUGIN_MAGIC, name);
		return EVAPI_ERR;
	}
	/* Collect every differing field, then report them all, most useful
	 * first, the way PostgreSQL reports an incompatible module. */
#define DIFF(f, h)                                                             \
	do {                                                                   \
		if ((unsigned long)p->f != (unsigned long)(h))                 \
			d[nd++] = (struct field_diff){#f, (unsigned long)(h),  \
						      (unsigned long)p->f};    \
	} while (0)
	DIFF(abi_major, EVAPI_ABI_MAJOR);
	DIFF(pointer_size, sizeof(void *));
	DIFF(long_size, sizeof(long));
	DIFF(int_size, sizeof(int));
	DIFF(big_endian, __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__);
#undef DIFF
	if (p->abi_major == EVAPI_ABI_MAJOR && p->abi_minor > EVAPI_ABI_MINOR)
		d[nd++] = (struct field_diff){"abi_minor (plugin needs newer)",
					      EVAPI_ABI_MINOR, p->abi_minor};
	if (p->size < DESC_MIN_SIZE)
		d[nd++] = (struct field_diff){"size (at least)", DESC_MIN_SIZE,
					      p->size};
	if (nd > 0) {
		report(name, path,
		       "incompatible plugin ABI: built for evapi ABI %u.%u, "
		       "this evapi has ABI %u.%u",
		       p->abi_major, p->abi_minor, EVAPI_ABI_MAJOR,
		       EVAPI_ABI_MINOR);
		for (i = 0; i < nd; i++)
			evapi_err("  %s: evapi expects %lu, plugin has %lu",
				  d[i].field, d[i].host, d[i].plugin);
		return EVAPI_ERR;
	}
	if (p->name == NULL || strcmp(p->name, name) != 0) {
		report(name, path, "descriptor names itself \"%.64s\"",
		       p->name ? p->name : "(null)");
		return EVAPI_ERR;
	}
	if (p->init == NULL) {
		report(name, path, "descriptor has no init callback");
		return EVAPI_ERR;
	}
	return EVAPI_OK;
}

/* ---- the api table --------------------------------------------------- */

static int
api_route(evapi_host *h, unsigned methods, const char *path,
	  evapi_handler_fn fn, void *arg)
{
	struct evapi_router *r = &h->server->router;
	const struct evapi_route *other;

	if (h->initialised) {
		report(h->name, h->path, "route %s registered after init",
		       path ? path : "(null)");
		return EVAPI_ERR;
	}
	other = path ? evapi_router_owner(r, path) : NULL;
	if (other != NULL) {
		report(h->name, h->path,
		       "route GET %s is already registered by plugin \"%s\"",
		       path, other->owner->name);
		h->reported = 1;
		return EVAPI_ERR;
	}
	if (evapi_router_add(r, h, methods, path, fn, arg) != EVAPI_OK) {
		report(h->name, h->path,
		       "cannot register route \"%.200s\" (an absolute path "
		       "without '?', '#', '%%' or spaces, method GET, at most "
		       "%d routes)",
		       path ? path : "(null)", EVAPI_MAX_ROUTES);
		h->reported = 1;
		return EVAPI_ERR;
	}
	return EVAPI_OK;
}

static int
api_route_answer(evapi_host *h, const char *path, evapi_answer_fn fn,
		 void *arg)
{
	struct evapi_route *rt = NULL;
	const char *why = NULL;

	if (h->initialised)
		why = "called after init";
	else if (fn == NULL)
		why = "no answer function";
	else if (path == NULL ||
		 (rt = evapi_router_owned(&h->server->router, h, path)) == NULL)
		why = "not a route this plugin registered";
	if (why != NULL) {
		report(h->name, h->path, "route_answer for \"%.200s\": %s",
		       path ? path : "(null)", why);
		h->reported = 1;
		return EVAPI_ERR;
	}
	rt->answer = fn;
	rt->answer_arg = arg;
	return EVAPI_OK;
}

static evapi_body *
api_body_json(evapi_host *h, const char *json)
{
	evapi_body *b = evapi_body_new(json);

	if (b == NULL) {
		report(h->name, h->path, "invalid JSON body: %.200s",
		       json ? json : "(null)");
		h->reported = 1;
	}
	return b;
}

static const char *
api_env(evapi_host *h, const char *name)
{
	const char *v = getenv(name);

	(void)h;
	return (v != NULL && *v != '\0') ? v : NULL;
}

static void
api_config_error(evapi_host *h, const char *name, const char *value,
		 const char *allowed)
{
	char line[512];

	evapi_config_error_line(line, sizeof(line), name, value, allowed);
	evapi_err("configuration error: %s (plugin \"%s\")", line, h->name);
	h->reported = 1;
}

static int
api_env_uint(evapi_host *h, const char *name, unsigned long dflt,
	     unsigned long min, unsigned long max, unsigned long *out)
{
	const char *v = api_env(h, name);
	char allowed[96];

	if (v == NULL) {
		*out = dflt;
		return EVAPI_OK;
	}
	if (evapi_parse_uint(v, min, max, out) == EVAPI_OK)
		return EVAPI_OK;
	snprintf(allowed, sizeof(allowed), "a whole number from %lu to %lu",
		 min, max);
	api_config_error(h, name, v, allowed);
	return EVAPI_ERR;
}

static void
api_log(evapi_host *h, int level, const char *msg, ...)
{
	char full[512];
	va_list ap;

	if (level < evapi_log_level)
		return;
	snprintf(full, sizeof(full), "%s: %s", h->name, msg);
	va_start(ap, msg);
	evapi_logv(level, full, ap);
	va_end(ap);
}

static int
api_log_enabled(evapi_host *h, int level)
{
	(void)h;
	return level >= evapi_log_level;
}

static struct event_base *
api_main_base(evapi_host *h)
{
	return evapi_server_main_base(h->server);
}

static struct event_base *
api_request_base(struct evhttp_request *req)
{
	struct evhttp_connection *c = evhttp_request_get_connection(req);

	return c ? evhttp_connection_get_base(c) : NULL;
}

static int
api_draining(evapi_host *h)
{
	return h->server->draining;
}

static const char *
api_fact(evapi_host *h, const char *key)
{
	if (key == NULL)
		return NULL;
	if (strcmp(key, "version") == 0)
		return evapi_build_version;
	if (strcmp(key, "commit") == 0)
		return evapi_build_commit;
	if (strcmp(key, "build_date") == 0)
		return evapi_build_date;
	if (strcmp(key, "environment") == 0)
		return h->server->cfg.environment;
	if (strcmp(key, "plugins") == 0)
		return h->server->active_plugins;
	if (strcmp(key, "libevent") == 0)
		return evapi_libevent_version();
	if (strcmp(key, "json-c") == 0)
		return evapi_jsonc_version();
	if (strcmp(key, "build") == 0)
		return evapi_plugin_mode;
	return NULL;
}

static const struct evapi_api host_api = {
	.size = sizeof(struct evapi_api),
	.abi_major = EVAPI_ABI_MAJOR,
	.abi_minor = EVAPI_ABI_MINOR,
	.route = api_route,
	.body_json = api_body_json,
	.env = api_env,
	.env_uint = api_env_uint,
	.config_error = api_config_error,
	.log = api_log,
	.log_enabled = api_log_enabled,
	.main_base = api_main_base,
	.request_base = api_request_base,
	.reply = evapi_reply_body,
	.reply_json = evapi_reply_json,
	.reply_error = evapi_reply_error,
	.route_answer = api_route_answer,
	.draining = api_draining,
	.fact = api_fact,
	.redact = evapi_redact_conninfo,
};

const struct evapi_api *
evapi_host_api(void)
{
	return &host_api;
}

/* ---- init and fini --------------------------------------------------- */

static int
init_one(struct evapi_host *h)
{
	if (h->desc->init(&host_api, h, &h->state) != EVAPI_OK) {
		if (!h->reported)
			report(h->name, h->path, "init failed");
		return EVAPI_ERR;
	}
	h->initialised = 1;
	evapi_log(EVAPI_LOG_DEBUG, "plugin loaded", "plugin", h->name,
		  "version", h->desc->version ? h->desc->version : "",
		  "file", h->path, NULL);
	return EVAPI_OK;
}

int
evapi_plugins_init(struct evapi_server *srv)
{
	const struct evapi_config *cfg = &srv->cfg;
	size_t i;

	/* Open and check every plugin before any init runs, so a missing or
	 * incompatible one fails before another starts background work. */
	for (i = 0; i < cfg->nplugins; i++) {
		struct evapi_host *h = &srv->hosts[i];

		h->server = srv;
		if (evapi_plugin_open(h, cfg->plugin_names[i],
				      cfg->plugin_dir) != EVAPI_OK)
			return EVAPI_ERR;
		srv->nhosts = i + 1;
	}
	for (i = 0; i < srv->nhosts; i++)
		if (init_one(&srv->hosts[i]) != EVAPI_OK)
			return EVAPI_ERR;
	return EVAPI_OK;
}

void
evapi_plugins_fini(struct evapi_server *srv)
{
	size_t i = srv->nhosts;

	/* Reverse order: a plugin may depend on one loaded before it. */
	while (i-- > 0) {
		struct evapi_host *h = &srv->hosts[i];

		if (h->initialised && h->desc->fini != NULL)
			h->desc->fini(h->state);
		h->initialised = 0;
		evapi_plugin_close(h);
	}
	srv->nhosts = 0;
}

const char *
evapi_libevent_version(void)
{
	return event_get_version();
}

const char *
evapi_jsonc_version(void)
{
	return json_c_version();
}
