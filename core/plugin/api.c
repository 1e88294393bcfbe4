/*
 * api.c - the functions plugin.h gives a plugin about itself: routes,
 * bodies, shared APIs, settings, facts, logging (requests and loops have
 * their own files: http/request.c, http/respond.c, loop.c).
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "host.h"
#include "http/respond.h"
#include "http/serve.h"
#include "util/log.h"

#include "build-info.h"

static int
in_init(evapi_ctx *c, const char *what)
{
	if (c != NULL && c->initialising)
		return 1;
	if (c != NULL)
		evapi_plugin_report(c->name, c->path, "%s is for init only", what);
	return 0;
}

int
evapi_route_add(evapi_ctx *c, unsigned methods, const char *pattern,
		evapi_handler_fn handler, void *arg, unsigned flags)
{
	if (!in_init(c, "evapi_route_add"))
		return EVAPI_ERR;
	return evapi_host_route(c, methods, pattern, handler, arg, flags);
}

const evapi_body *
evapi_body_json(evapi_ctx *c, const char *json)
{
	const evapi_body *b = evapi_body_new(json);

	if (b == NULL && c != NULL) {
		evapi_plugin_report(c->name, c->path, "invalid JSON body: %.200s",
				    json ? json : "(null)");
		c->reported = 1;
	}
	return b;
}

int
evapi_export(evapi_ctx *c, const char *name, const void *api)
{
	struct evapi_host *h;
	size_t i;

	if (!in_init(c, "evapi_export") || name == NULL || api == NULL)
		return EVAPI_ERR;
	h = c->host;
	for (i = 0; i < h->nexports; i++)
		if (strcmp(h->exports[i].name, name) == 0) {
			evapi_plugin_report(c->name, c->path,
					    "API \"%.64s\" is already exported "
					    "by plugin \"%s\"",
					    name, h->exports[i].owner->name);
			c->reported = 1;
			return EVAPI_ERR;
		}
	if (h->nexports == EVAPI_MAX_EXPORTS || strlen(name) >= EVAPI_NAME_MAX)
		return EVAPI_ERR;
	snprintf(h->exports[h->nexports].name, EVAPI_NAME_MAX, "%s", name);
	h->exports[h->nexports].api = api;
	h->exports[h->nexports].owner = c;
	h->nexports++;
	return EVAPI_OK;
}

const void *
evapi_import(evapi_ctx *c, const char *name)
{
	struct evapi_host *h;
	size_t i;

	if (c == NULL || name == NULL)
		return NULL;
	h = c->host;
	for (i = 0; i < h->nexports; i++)
		if (strcmp(h->exports[i].name, name) == 0)
			return h->exports[i].api;
	return NULL;
}

/* ---- settings ------------------------------------------------------------------ */

static const struct evapi_value *
value_of(evapi_ctx *c, const char *name)
{
	size_t i;

	if (c == NULL || name == NULL)
		return NULL;
	for (i = 0; i < c->nvalues; i++)
		if (strcmp(c->desc->settings[i].name, name) == 0)
			return &c->values[i];
	evapi_plugin_report(c->name, c->path,
			    "asked for setting %.64s, which it does not declare",
			    name);
	return NULL;
}

long long
evapi_setting_int(evapi_ctx *c, const char *name)
{
	const struct evapi_value *v = value_of(c, name);

	return v != NULL ? v->i : 0;
}

int
evapi_setting_bool(evapi_ctx *c, const char *name)
{
	const struct evapi_value *v = value_of(c, name);

	return v != NULL && v->i != 0;
}

const char *
evapi_setting_str(evapi_ctx *c, const char *name)
{
	const struct evapi_value *v = value_of(c, name);

	return v != NULL && v->set ? v->s : NULL;
}

void
evapi_config_error(evapi_ctx *c, const char *name, const char *shown,
		   const char *expected)
{
	char line[640];

	evapi_config_error_line(line, sizeof(line), name ? name : "?", shown,
				expected ? expected : "a valid value");
	evapi_err("configuration error: %s (plugin \"%s\")", line,
		  c ? c->name : "?");
	if (c != NULL)
		c->reported = 1;
}

/* ---- facts ---------------------------------------------------------------------- */

const char *
evapi_fact(evapi_ctx *c, const char *key)
{
	if (key == NULL)
		return NULL;
	if (strcmp(key, "version") == 0)
		return evapi_build_version;
	if (strcmp(key, "commit") == 0)
		return evapi_build_commit;
	if (strcmp(key, "build_date") == 0)
		return evapi_build_date;
	if (strcmp(key, "build") == 0)
		return evapi_plugin_mode;
	if (strcmp(key, "libevent") == 0)
		return event_get_version();
	if (strcmp(key, "json-c") == 0)
		return json_c_version();
	if (c == NULL)
		return NULL;
	if (strcmp(key, "environment") == 0)
		return c->host->cfg->environment;
	if (strcmp(key, "plugins") == 0)
		return c->host->active;
	return NULL;
}

int
evapi_draining(void)
{
	return evapi_http_draining;
}

evapi_loop *
evapi_main_loop(evapi_ctx *c)
{
	return c != NULL ? c->host->main_loop : NULL;
}

/* ---- logging ----------------------------------------------------------------------- */

void
evapi_log(evapi_ctx *c, int level, const char *msg, ...)
{
	char full[512];
	va_list ap;

	if (level < evapi_log_level)
		return;
	snprintf(full, sizeof(full), "%s: %s", c ? c->name : "plugin",
		 msg ? msg : "");
	va_start(ap, msg);
	evapi_core_logv(level, full, ap);
	va_end(ap);
}

int
evapi_log_enabled(evapi_ctx *c, int level)
{
	(void)c;
	return level >= evapi_log_level;
}
