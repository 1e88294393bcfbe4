/*
 * conf.h - the core's configuration: every variable parsed and checked
 * before anything binds (config.c), from one table (vars.c).
 */
#ifndef EVAPI_CONFIG_CONF_H
#define EVAPI_CONFIG_CONF_H

#include <stddef.h>

#include <evapi/plugin.h>

#include "settings.h"

#define EVAPI_MAX_PLUGINS 32
#define EVAPI_MAX_WORKERS 256
#define EVAPI_NAME_MAX 64

struct evapi_config {
	unsigned port;
	char bind_address[64];
	int log_level;
	char environment[128];
	char plugin_names[EVAPI_MAX_PLUGINS][EVAPI_NAME_MAX];
	size_t nplugins;
	char plugin_path[4096]; /* directories, ':'-separated */
	unsigned shutdown_timeout; /* seconds */
	unsigned drain_delay;      /* seconds */
	unsigned long max_header_size;
	unsigned long max_body_size;
	unsigned idle_timeout;   /* seconds */
	unsigned header_timeout; /* seconds */
	unsigned long max_connections; /* 0: auto */
	unsigned probe_port;           /* 0: none */
	unsigned workers;              /* 0: auto */
	int access_log, access_log_probes;
	char healthcheck_path[256];
	unsigned healthcheck_timeout_ms;
};

extern const struct evapi_setting evapi_core_vars[];

/* Reads a variable; a test or fuzzer may substitute its own. */
typedef const char *(*evapi_getenv_fn)(const char *name, void *arg);

/* Parse and check every core variable. EVAPI_ERR with one line in ERR. */
int evapi_config_load(struct evapi_config *cfg, evapi_getenv_fn get,
		      void *arg, char *err, size_t errlen);
/* Split a comma-separated plugin list, checking every name. */
int evapi_parse_plugin_list(const char *list, char names[][EVAPI_NAME_MAX],
			    size_t max, size_t *n, char *err, size_t errlen);
int evapi_valid_plugin_name(const char *name);
/* CPUs this process may use: affinity mask and cgroup quota (cpus.c). */
unsigned evapi_available_cpus(void);

#endif
