/*
 * host.h - the host side of the plugin contract: which plugins run, in
 * what order, with what settings, and the routes they gave (host.c); how
 * a plugin is found (loader-dl.c, loader-builtin.c) and checked (abi.c).
 */
#ifndef EVAPI_PLUGIN_HOST_H
#define EVAPI_PLUGIN_HOST_H

#include <stddef.h>

#include <evapi/plugin.h>

#include "config/conf.h"
#include "config/settings.h"
#include "http/route.h"

#define EVAPI_MAX_EXPORTS 32

/* One plugin, as the host keeps it (evapi_ctx in plugin.h). */
struct evapi_ctx {
	const struct evapi_plugin *desc;
	char name[EVAPI_NAME_MAX];
	char path[4200]; /* the file it came from, or "built-in" */
	void *dl_handle;
	void *state;
	int initialising, initialised;
	int reported; /* an error about it was printed already */
	int needed;   /* started because another plugin needs it */
	struct evapi_host *host;
	struct evapi_value *values; /* parsed settings, as desc->settings */
	size_t nvalues;
};

struct evapi_host {
	const struct evapi_config *cfg;
	struct evapi_ctx ctx[EVAPI_MAX_PLUGINS]; /* in start order */
	size_t n;
	struct evapi_router router;
	char active[EVAPI_MAX_PLUGINS * EVAPI_NAME_MAX]; /* "a,b,c" */
	struct {
		char name[EVAPI_NAME_MAX];
		const void *api;
		const struct evapi_ctx *owner;
	} exports[EVAPI_MAX_EXPORTS];
	size_t nexports;
	evapi_loop *main_loop;
};

/* Open the plugins of CFG (and those they need, first), check them and
 * parse their settings. EVAPI_ERR after printing why. */
int evapi_host_open(struct evapi_host *h, const struct evapi_config *cfg);
/* Run every init in order and register the routes. */
int evapi_host_init(struct evapi_host *h, evapi_loop *main_loop);
/* evapi --migrate: hand every started plugin's migrations to the
 * exported "evapi.migrator" (migrate.c). 0 or an exit status, printed. */
int evapi_host_migrate(struct evapi_host *h);
/* Every fini, in reverse order. */
void evapi_host_fini(struct evapi_host *h);
/* Register a route of C (reports conflicts naming both plugins). */
int evapi_host_route(struct evapi_ctx *c, unsigned methods,
		     const char *pattern, evapi_handler_fn fn, void *arg,
		     unsigned flags);

/* ---- loaders ---------------------------------------------------------------- */

/* Find plugin NAME (in the ':'-separated PATH, or built in): fills
 * ctx->desc, path, dl_handle. On failure prints the reason, naming
 * plugin and file, and returns EVAPI_ERR. */
int evapi_plugin_open(struct evapi_ctx *ctx, const char *name,
		      const char *path);
void evapi_plugin_close(struct evapi_ctx *ctx);
/* The plugins available (for messages), comma-separated into OUT. */
void evapi_plugin_available(const char *path, char *out, size_t outlen);
/* A plugin's descriptor without running anything of it but its loading
 * (for --help), or NULL; prints nothing. */
const struct evapi_plugin *evapi_plugin_peek(const char *name,
					     const char *path);
/* "dynamic" or "static" */
extern const char evapi_plugin_mode[];

/* ---- abi.c --------------------------------------------------------------------- */

/* Check a descriptor against this host: magic, ABI, sizes, name, its
 * routes and settings. Prints each differing field on its own line. */
int evapi_plugin_check(const struct evapi_plugin *p, const char *name,
		       const char *path);
/* One line "evapi: plugin "NAME" (PATH): ..." on stderr. */
void evapi_plugin_report(const char *name, const char *path, const char *fmt,
			 ...) __attribute__((format(printf, 3, 4)));

#endif
