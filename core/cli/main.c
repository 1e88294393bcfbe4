/*
 * main.c - the command line: serve (default), --help, --help-vars,
 * --version, --check-config, --migrate, --healthcheck.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "build-info.h"
#include "cli.h"
#include "config/conf.h"
#include "http/request.h"
#include "plugin/host.h"
#include "server/server.h"
#include "util/alloc.h"
#include "util/log.h"

static const char *
env_get(const char *name, void *arg)
{
	(void)arg;
	return getenv(name);
}

static const char *
no_env(const char *name, void *arg)
{
	(void)name;
	(void)arg;
	return NULL;
}

static void
print_version(void)
{
	printf("evapi %s (commit %s, built %s, %s build)\n"
	       "libevent %s\njson-c %s\nplugin ABI %d.%d\n",
	       evapi_build_version, evapi_build_commit, evapi_build_date,
	       evapi_plugin_mode, event_get_version(), json_c_version(),
	       EVAPI_ABI_MAJOR, EVAPI_ABI_MINOR);
}

/* The configuration, or exit FAIL_CODE with one line. */
static void
load_config(struct evapi_config *cfg, int fail_code)
{
	char err[640];

	if (evapi_config_load(cfg, env_get, NULL, err, sizeof(err)) !=
	    EVAPI_OK) {
		evapi_err("configuration error: %s", err);
		exit(fail_code);
	}
	evapi_log_level = cfg->log_level;
}

/* For --help: the environment's configuration when it is valid, the
 * defaults otherwise (help must always work). */
static void
help_config(struct evapi_config *cfg)
{
	char err[640];

	if (evapi_config_load(cfg, env_get, NULL, err, sizeof(err)) != EVAPI_OK)
		evapi_config_load(cfg, no_env, NULL, err, sizeof(err));
}

static int
serve(enum evapi_run_mode mode)
{
	static struct evapi_server srv;
	int rc;

	load_config(&srv.cfg, EVAPI_EXIT_CONFIG);
	/* A command's output is its result lines: --check-config one, or the
	 * errors; --migrate one per migration. Warnings and errors join them
	 * as plain lines on stderr. */
	evapi_log_plain = mode != EVAPI_RUN_SERVE;
	if (mode != EVAPI_RUN_SERVE && evapi_log_level < EVAPI_LOG_WARN)
		evapi_log_level = EVAPI_LOG_WARN;
	srv.nworkers = srv.cfg.workers ? srv.cfg.workers
				       : evapi_available_cpus();
	/* Commands need one loop, not one per CPU. */
	if (mode != EVAPI_RUN_SERVE)
		srv.nworkers = 1;
	rc = evapi_server_run(&srv, mode);
	if (mode == EVAPI_RUN_MIGRATE)
		return rc == EVAPI_ERR ? 1 : rc;
	if (rc == EVAPI_OK && mode == EVAPI_RUN_CHECK)
		printf("evapi: configuration is valid (plugins: %s; %s "
		       "build)\n",
		       srv.host.active, evapi_plugin_mode);
	return rc == EVAPI_ERR ? 1 : rc;
}

static int
is(const char *a, const char *x, const char *y, const char *z)
{
	return strcmp(a, x) == 0 || (y && strcmp(a, y) == 0) ||
	       (z && strcmp(a, z) == 0);
}

int
main(int argc, char **argv)
{
	struct evapi_config cfg;
	const char *a = argc > 1 ? argv[1] : NULL;
	int rc;

	evapi_alloc_install();
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 2) {
		evapi_err("too many arguments; see evapi --help");
		return EVAPI_EXIT_USAGE;
	}
	if (a == NULL) {
		rc = serve(EVAPI_RUN_SERVE);
		evapi_request_pool_flush();
		evapi_alloc_flush();
		return rc;
	}
	if (is(a, "--help", "-h", NULL)) {
		help_config(&cfg);
		evapi_help_print(argv[0], &cfg);
		return 0;
	}
	if (is(a, "--help-vars", NULL, NULL) ||
	    strncmp(a, "--help-vars=", 12) == 0) {
		help_config(&cfg);
		if (evapi_help_vars(&cfg, a[11] == '=' ? a + 12 : NULL) !=
		    EVAPI_OK) {
			evapi_err("--help-vars takes tsv, markdown or man");
			return EVAPI_EXIT_USAGE;
		}
		return 0;
	}
	if (is(a, "--version", "-V", NULL)) {
		print_version();
		return 0;
	}
	if (is(a, "--check-config", "-t", NULL))
		return serve(EVAPI_RUN_CHECK);
	if (is(a, "--migrate", NULL, NULL))
		return serve(EVAPI_RUN_MIGRATE);
	if (is(a, "--healthcheck", "--health", "-health")) {
		/* Unhealthy, not "bad config" (Docker reserves exit 2). */
		load_config(&cfg, 1);
		return evapi_healthcheck(&cfg);
	}
	evapi_err("unknown option \"%.64s\"; see evapi --help", a);
	return EVAPI_EXIT_USAGE;
}
