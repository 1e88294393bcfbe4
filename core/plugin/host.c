/*
 * host.c - which plugins run, in what order, with what settings (host.h).
 *
 * Start-up, before anything binds: every plugin named in API_PLUGINS is
 * opened and checked, the plugins it needs (.needs) first, wherever they
 * are in the list or not in it at all; then every plugin's settings are
 * parsed with the core's variables' rules; then the inits run, in that
 * order, and each plugin's routes are registered. A failure at any step
 * names the plugin and exits 78 before a port is bound.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"
#include "util/log.h"

/* ---- opening, needs first -------------------------------------------------- */

static struct evapi_ctx *
find(struct evapi_host *h, const char *name)
{
	size_t i;

	for (i = 0; i < h->n; i++)
		if (strcmp(h->ctx[i].name, name) == 0)
			return &h->ctx[i];
	return NULL;
}

static int open_one(struct evapi_host *h, const char *name, const char *from,
		    const char **stack, size_t depth);

static int
open_needs(struct evapi_host *h, const struct evapi_plugin *desc,
	   const char *name, const char *path, const char **stack,
	   size_t depth)
{
	const char *const *need;

	for (need = desc->needs; need != NULL && *need != NULL; need++) {
		if (!evapi_valid_plugin_name(*need)) {
			evapi_plugin_report(name, path, "needs \"%.64s\", which "
					    "is not a plugin name", *need);
			return EVAPI_ERR;
		}
		if (open_one(h, *need, name, stack, depth) != EVAPI_OK)
			return EVAPI_ERR;
	}
	return EVAPI_OK;
}

/* Open NAME after the plugins it needs. FROM: the plugin that needs it
 * (NULL: listed in API_PLUGINS). STACK holds the chain being opened. */
static int
open_one(struct evapi_host *h, const char *name, const char *from,
	 const char **stack, size_t depth)
{
	struct evapi_ctx tmp;
	size_t i;

	if (find(h, name) != NULL)
		return EVAPI_OK;
	for (i = 0; i < depth; i++)
		if (strcmp(stack[i], name) == 0) {
			evapi_err("plugin \"%s\" needs \"%s\", which needs it "
				  "back: plugins cannot need each other",
				  from, name);
			return EVAPI_ERR;
		}
	if (depth == EVAPI_MAX_PLUGINS || h->n == EVAPI_MAX_PLUGINS) {
		evapi_err("plugin \"%s\": more than %d plugins with the ones "
			  "they need", name, EVAPI_MAX_PLUGINS);
		return EVAPI_ERR;
	}
	memset(&tmp, 0, sizeof(tmp));
	if (evapi_plugin_open(&tmp, name, h->cfg->plugin_path) != EVAPI_OK) {
		if (from != NULL)
			evapi_err("  (needed by plugin \"%s\")", from);
		return EVAPI_ERR;
	}
	stack[depth] = name;
	if (open_needs(h, tmp.desc, tmp.name, tmp.path, stack, depth + 1) !=
	    EVAPI_OK)
		return EVAPI_ERR;
	tmp.needed = from != NULL;
	tmp.host = h;
	h->ctx[h->n++] = tmp;
	return EVAPI_OK;
}

/* ---- settings ----------------------------------------------------------------- */

static const struct evapi_ctx *
setting_owner(const struct evapi_host *h, const char *name, size_t upto)
{
	const struct evapi_setting *s;
	size_t i;

	for (i = 0; i < upto; i++)
		for (s = h->ctx[i].desc->settings; s && s->name; s++)
			if (strcmp(s->name, name) == 0)
				return &h->ctx[i];
	return NULL;
}

static int
core_var(const char *name)
{
	const struct evapi_setting *s;

	for (s = evapi_core_vars; s->name != NULL; s++)
		if (strcmp(s->name, name) == 0)
			return 1;
	return 0;
}

static int
parse_settings(struct evapi_host *h, size_t k)
{
	struct evapi_ctx *c = &h->ctx[k];
	const struct evapi_setting *s = c->desc->settings;
	const struct evapi_ctx *other;
	char err[640];
	size_t n = 0, i;

	while (s != NULL && s[n].name != NULL)
		n++;
	if (n == 0)
		return EVAPI_OK;
	c->values = calloc(n, sizeof(*c->values));
	if (c->values == NULL)
		return EVAPI_ERR;
	c->nvalues = n;
	for (i = 0; i < n; i++) {
		if (core_var(s[i].name) ||
		    (other = setting_owner(h, s[i].name, k)) != NULL) {
			evapi_plugin_report(c->name, c->path,
					    "setting %s is already evapi's or "
					    "plugin \"%s\"'s",
					    s[i].name,
					    core_var(s[i].name) ? "evapi"
								: other->name);
			return EVAPI_ERR;
		}
		if (evapi_setting_parse(&s[i], getenv(s[i].name), &c->values[i],
					err, sizeof(err)) != EVAPI_OK) {
			evapi_err("configuration error: %s (plugin \"%s\")", err,
				  c->name);
			return EVAPI_ERR;
		}
	}
	return EVAPI_OK;
}

int
evapi_host_open(struct evapi_host *h, const struct evapi_config *cfg)
{
	const char *stack[EVAPI_MAX_PLUGINS];
	size_t i, o = 0;

	h->cfg = cfg;
	evapi_router_init(&h->router);
	/* Open and check every plugin before any init runs, so a missing or
	 * incompatible one fails before another starts background work. */
	for (i = 0; i < cfg->nplugins; i++)
		if (open_one(h, cfg->plugin_names[i], NULL, stack, 0) !=
		    EVAPI_OK)
			return EVAPI_ERR;
	for (i = 0; i < h->n; i++)
		if (parse_settings(h, i) != EVAPI_OK)
			return EVAPI_ERR;
	for (i = 0; i < h->n; i++)
		o += (size_t)snprintf(h->active + o, sizeof(h->active) - o,
				      "%s%s", i ? "," : "", h->ctx[i].name);
	return EVAPI_OK;
}

/* ---- init and fini ---------------------------------------------------------------- */

int
evapi_host_route(struct evapi_ctx *c, unsigned methods, const char *pattern,
		 evapi_handler_fn fn, void *arg, unsigned flags)
{
	struct evapi_slot slot;
	const struct evapi_slot *other;
	const char *why;

	memset(&slot, 0, sizeof(slot));
	slot.handler = fn;
	slot.arg = arg;
	slot.flags = flags;
	slot.owner = c;
	slot.owner_name = c->name;
	if (evapi_router_add(&c->host->router, methods, pattern, &slot, &why,
			     &other) == EVAPI_OK)
		return EVAPI_OK;
	if (other != NULL)
		evapi_plugin_report(c->name, c->path,
				    "route %s is already registered by plugin "
				    "\"%s\" (as %s)",
				    pattern, other->owner_name, other->pattern);
	else
		evapi_plugin_report(c->name, c->path, "route \"%.200s\": %s",
				    pattern ? pattern : "(null)", why);
	c->reported = 1;
	return EVAPI_ERR;
}

static int
init_one(struct evapi_ctx *c)
{
	const struct evapi_route *r;

	c->initialising = 1;
	if (c->desc->init != NULL &&
	    c->desc->init(c, &c->state) != EVAPI_OK) {
		c->initialising = 0;
		if (!c->reported)
			evapi_plugin_report(c->name, c->path, "init failed");
		return EVAPI_ERR;
	}
	c->initialised = 1;
	for (r = c->desc->routes; r != NULL && r->pattern != NULL; r++)
		if (evapi_host_route(c, r->methods, r->pattern, r->handler,
				     c->state, r->flags) != EVAPI_OK) {
			c->initialising = 0;
			return EVAPI_ERR;
		}
	c->initialising = 0;
	evapi_core_log(EVAPI_LOG_DEBUG, "plugin started", "plugin", c->name,
		       "version", c->desc->version ? c->desc->version : "",
		       "file", c->path, NULL);
	return EVAPI_OK;
}

int
evapi_host_init(struct evapi_host *h, evapi_loop *main_loop)
{
	size_t i;

	h->main_loop = main_loop;
	for (i = 0; i < h->n; i++)
		if (init_one(&h->ctx[i]) != EVAPI_OK)
			return EVAPI_ERR;
	return EVAPI_OK;
}

void
evapi_host_fini(struct evapi_host *h)
{
	size_t i = h->n, k;

	/* Reverse order: a plugin may depend on one started before it. */
	while (i-- > 0) {
		struct evapi_ctx *c = &h->ctx[i];

		if (c->initialised && c->desc->fini != NULL)
			c->desc->fini(c->state);
		c->initialised = 0;
		for (k = 0; k < c->nvalues; k++)
			evapi_value_clear(&c->values[k]);
		free(c->values);
		c->values = NULL;
		c->nvalues = 0;
		evapi_plugin_close(c);
	}
	h->n = 0;
	h->nexports = 0;
	evapi_router_free(&h->router);
}
