/*
 * help.c - evapi --help: every variable, from the same tables that the
 * configuration parser and the plugins use.
 */
#include "config.h"

#include <stdio.h>

#include "evapi-internal.h"

const char *const evapi_shipped_plugins[] = {"health", "ready", "version",
					     NULL};

static void
print_var(const char *name, const char *dflt, const char *help)
{
	printf("  %-24s %s\n", name, help);
	printf("  %-24s (default: %s)\n", "", dflt ? dflt : "none");
}

void
evapi_config_print_help(const char *prog, const char *plugin_dir)
{
	const struct evapi_core_var *v;
	size_t i;

	printf("Usage: %s [--help | --version | --check-config | "
	       "--healthcheck]\n\n"
	       "evapi is an HTTP API server whose handlers are plugins.\n"
	       "It is configured by environment variables only.\n\n"
	       "Options:\n"
	       "  --help, -h          this text\n"
	       "  --version, -V       version, commit and library versions\n"
	       "  --check-config, -t  validate the configuration and the "
	       "plugins,\n"
	       "                      then exit 0 (valid) or 78 (invalid), "
	       "binding nothing\n"
	       "  --healthcheck, -health, --health\n"
	       "                      GET /health on this host's PORT "
	       "(PROBE_PORT when set);\n"
	       "                      exit 0 on 2xx, else 1\n\n"
	       "Environment (core):\n",
	       prog);
	for (v = evapi_core_vars; v->name != NULL; v++)
		print_var(v->name, v->dflt, v->help);
	printf("\nEnvironment (plugins; shown for plugins that can be "
	       "loaded):\n");
	for (i = 0; evapi_shipped_plugins[i] != NULL; i++) {
		const struct evapi_plugin *p =
			evapi_plugin_peek(evapi_shipped_plugins[i], plugin_dir);
		const struct evapi_var *pv;

		if (p == NULL || p->vars == NULL)
			continue;
		for (pv = p->vars; pv->name != NULL; pv++) {
			char help[256];

			snprintf(help, sizeof(help), "[%s] %s", p->name,
				 pv->help);
			print_var(pv->name, pv->default_value, help);
		}
	}
	printf("\nExit status: 0 success, 1 healthcheck failed (or internal "
	       "error),\n64 bad command line, 78 bad configuration or plugin, "
	       "128+N stopped by\na second signal N.\nSee evapi(8).\n");
}
