/*
 * main.c - command line: serve (default), --help, --version,
 * --check-config, --healthcheck.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evapi-internal.h"

#define EXIT_USAGE 64 /* sysexits.h EX_USAGE */

static const char *
env_get(const char *name, void *arg)
{
	(void)arg;
	return getenv(name);
}

static void
print_version(void)
{
	printf("evapi %s (commit %s, built %s, %s build)\n"
	       "libevent %s\njson-c %s\nplugin ABI %d.%d\n",
	       evapi_build_version, evapi_build_commit, evapi_build_date,
	       evapi_plugin_mode, evapi_libevent_version(),
	       evapi_jsonc_version(), EVAPI_ABI_MAJOR, EVAPI_ABI_MINOR);
}

static void
load_config(struct evapi_config *cfg, int fail_code)
{
	char err[512];

	if (evapi_config_load(cfg, env_get, NULL, err, sizeof(err)) !=
	    EVAPI_OK) {
		evapi_err("configuration error: %s", err);
		exit(fail_code);
	}
	evapi_log_level = cfg->log_level;
}

static void
join_plugins(struct evapi_server *srv)
{
	size_t i, o = 0;

	for (i = 0; i < srv->cfg.nplugins; i++)
		o += (size_t)snprintf(srv->active_plugins + o,
				      sizeof(srv->active_plugins) - o, "%s%s",
				      i ? "," : "", srv->cfg.plugin_names[i]);
}

static int
serve(int check_only)
{
	static struct evapi_server srv;
	int rc;

	load_config(&srv.cfg, EVAPI_EXIT_CONFIG);
	srv.nworkers = srv.cfg.workers ? srv.cfg.workers
				       : evapi_available_cpus();
	/* Each loop gets an equal share of the cap: it needs one at least. */
	if (srv.cfg.max_connections != 0 &&
	    srv.cfg.max_connections < srv.nworkers) {
		evapi_err("configuration error: MAX_CONNECTIONS=%lu is not "
			  "valid: expected at least one connection per worker "
			  "(WORKERS resolves to %u)",
			  srv.cfg.max_connections, srv.nworkers);
		return EVAPI_EXIT_CONFIG;
	}
	join_plugins(&srv);
	rc = evapi_server_run(&srv, check_only);
	if (rc == EVAPI_OK && check_only)
		printf("evapi: configuration is valid (plugins: %s, %s "
		       "build)\n",
		       srv.active_plugins, evapi_plugin_mode);
	if (rc == EVAPI_ERR)
		return 1;
	return rc;
}

static void
help(const char *prog)
{
	const char *dir = getenv("API_PLUGIN_DIR");

	if (dir == NULL || dir[0] != '/')
		dir = evapi_default_plugin_dir;
	evapi_config_print_help(prog, dir);
}

int
main(int argc, char **argv)
{
	struct evapi_config cfg;
	const char *a = argc > 1 ? argv[1] : NULL;

	evapi_alloc_install();
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 2) {
		evapi_err("too many arguments; see evapi --help");
		return EXIT_USAGE;
	}
	if (a == NULL) {
		int rc = serve(0);

		evapi_alloc_flush();
		return rc;
	}
	if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
		help(argv[0]);
		return 0;
	}
	if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) {
		print_version();
		return 0;
	}
	if (strcmp(a, "--check-config") == 0 || strcmp(a, "-t") == 0)
		return serve(1);
	if (strcmp(a, "--healthcheck") == 0 || strcmp(a, "-health") == 0 ||
	    strcmp(a, "--health") == 0) {
		/* Unhealthy, not "bad config" (Docker reserves exit 2). */
		load_config(&cfg, 1);
		return evapi_healthcheck(&cfg);
	}
	evapi_err("unknown option \"%.64s\"; see evapi --help", a);
	return EXIT_USAGE;
}
