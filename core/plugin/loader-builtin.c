/*
 * loader-builtin.c - the static build: plugins are compiled in.
 *
 * builtin-plugins.c, generated at build time from --with-builtin-plugins
 * and --with-plugins,
 * lists their descriptors. API_PLUGINS still chooses which are active; the
 * same checks as for a loaded plugin apply, so a plugin behaves the same
 * either way.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "host.h"
#include "util/log.h"

const char evapi_plugin_mode[] = "static";

/* From the generated builtin-plugins.c; ended by NULL. */
extern const struct evapi_plugin *const evapi_builtin_plugins[];

void
evapi_plugin_available(const char *dir, char *out, size_t outlen)
{
	size_t o = 0, i;

	(void)dir;
	out[0] = '\0';
	for (i = 0; evapi_builtin_plugins[i] != NULL; i++) {
		int n = snprintf(out + o, outlen - o, "%s%s", o ? ", " : "",
				 evapi_builtin_plugins[i]->name);

		if (n < 0 || (size_t)n >= outlen - o)
			break;
		o += (size_t)n;
	}
}

static const struct evapi_plugin *
find(const char *name)
{
	size_t i;

	for (i = 0; evapi_builtin_plugins[i] != NULL; i++)
		if (strcmp(evapi_builtin_plugins[i]->name, name) == 0)
			return evapi_builtin_plugins[i];
	return NULL;
}

int
evapi_plugin_open(struct evapi_ctx *host, const char *name, const char *dir)
{
	const struct evapi_plugin *desc = find(name);
	char avail[512];

	snprintf(host->name, sizeof(host->name), "%s", name);
	snprintf(host->path, sizeof(host->path), "built-in");
	if (desc == NULL) {
		evapi_plugin_available(dir, avail, sizeof(avail));
		evapi_err("plugin \"%s\" (built-in): not built into this "
			  "static binary; built-in plugins: %s",
			  name, avail[0] ? avail : "none");
		return EVAPI_ERR;
	}
	if (evapi_plugin_check(desc, name, host->path) != EVAPI_OK)
		return EVAPI_ERR;
	host->desc = desc;
	return EVAPI_OK;
}

void
evapi_plugin_close(struct evapi_ctx *host)
{
	host->desc = NULL;
}

const struct evapi_plugin *
evapi_plugin_peek(const char *name, const char *dir)
{
	(void)dir;
	return find(name);
}
