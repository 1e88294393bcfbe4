/*
 * vars.c - the core's variables: the one table --help, the parser, the
 * man page and the documentation are made from (scripts/gen-vars-doc
 * writes the tables of docs/configuration.md and man/evapi.8 from
 * `evapi --help-vars=markdown|man`; tests/test_docs.py fails when they
 * differ from what this binary prints).
 */
#include "config.h"

#include "conf.h"

#ifndef EVAPI_DEFAULT_PLUGINS
#define EVAPI_DEFAULT_PLUGINS "health,ready,version"
#endif

const struct evapi_setting evapi_core_vars[] = {
	{"PORT", EVAPI_SETTING_INT, "8080", 1, 65535, NULL,
	 "TCP port to listen on", 0},
	{"BIND_ADDRESS", EVAPI_SETTING_ADDRESS, "0.0.0.0", 0, 0, NULL,
	 "address to listen on (:: for every IPv6 and IPv4 address)", 0},
	{"LOG_LEVEL", EVAPI_SETTING_ENUM, "info", 0, 0, "debug|info|warn|error",
	 "least severe log level written to stdout", 0},
	{"ENVIRONMENT", EVAPI_SETTING_STRING, "development", 0, 127, NULL,
	 "deployment name, shown by /version and in the start log line",
	 EVAPI_SETTING_ASCII},
	{"API_PLUGINS", EVAPI_SETTING_PLUGINS, EVAPI_DEFAULT_PLUGINS, 0, 0, NULL,
	 "plugins to start, in order (with the plugins they need)", 0},
	{"API_PLUGIN_PATH", EVAPI_SETTING_PATHS, NULL, 0, 0, NULL,
	 "directories of plugin .so files, searched in order (dynamic "
	 "build); when unset, API_PLUGIN_DIR alone", 0},
	{"API_PLUGIN_DIR", EVAPI_SETTING_PATHS, EVAPI_PLUGIN_DIR_DEFAULT, 0, 0,
	 NULL, "one directory of plugin .so files, when API_PLUGIN_PATH is "
	 "unset (dynamic build)", EVAPI_SETTING_BUILD_DEFAULT},
	{"WORKERS", EVAPI_SETTING_INT, "auto", 1, 256, NULL,
	 "event loops (threads); auto = the CPUs this process may use "
	 "(affinity and cgroup quota)", EVAPI_SETTING_AUTO},
	{"SHUTDOWN_TIMEOUT", EVAPI_SETTING_INT, "5", 1, 3600, NULL,
	 "seconds the drain after SIGTERM may take in all", 0},
	{"DRAIN_DELAY", EVAPI_SETTING_INT, "0", 0, 3599, NULL,
	 "seconds to keep serving (/ready 503) after SIGTERM before the "
	 "listeners close; below SHUTDOWN_TIMEOUT", 0},
	{"MAX_HEADER_SIZE", EVAPI_SETTING_INT, "8192", 256, 1048576, NULL,
	 "largest request line plus header fields, in bytes (else 414 or "
	 "431)", 0},
	{"MAX_BODY_SIZE", EVAPI_SETTING_INT, "16384", 0, 16777216, NULL,
	 "largest request body, in bytes (else 413)", 0},
	{"IDLE_TIMEOUT", EVAPI_SETTING_INT, "10", 1, 3600, NULL,
	 "seconds a connection may be idle (keep-alive) or stall a write",
	 0},
	{"HEADER_TIMEOUT", EVAPI_SETTING_INT, "10", 1, 3600, NULL,
	 "seconds a request (head and body) may take to arrive, in all", 0},
	{"MAX_CONNECTIONS", EVAPI_SETTING_INT, "auto", 1, 1048576, NULL,
	 "most connections at once, over all workers; auto = 1024, lowered "
	 "to fit RLIMIT_NOFILE; at the cap the oldest idle one is closed",
	 EVAPI_SETTING_AUTO},
	{"PROBE_PORT", EVAPI_SETTING_INT, NULL, 1, 65535, NULL,
	 "a second port serving only the probe routes (/health, /ready, "
	 "/version, /metrics), outside MAX_CONNECTIONS, with 64 connections "
	 "of its own; must differ from PORT", 0},
	{"ACCESS_LOG", EVAPI_SETTING_BOOL, "off", 0, 0, NULL,
	 "one JSON log line per answer (written at LOG_LEVEL=debug anyway); "
	 "probe routes are left out", 0},
	{"ACCESS_LOG_PROBES", EVAPI_SETTING_BOOL, "off", 0, 0, NULL,
	 "log the probe routes too (/health, /ready, /version, /metrics: "
	 "kubelets and scrapes would fill the log)", 0},
	{"HEALTHCHECK_PATH", EVAPI_SETTING_STRING, "/health", 1, 255, NULL,
	 "the path evapi --healthcheck asks for", EVAPI_SETTING_ASCII},
	{"HEALTHCHECK_TIMEOUT_MS", EVAPI_SETTING_INT, "2000", 100, 60000, NULL,
	 "deadline of evapi --healthcheck, in milliseconds", 0},
	EVAPI_SETTINGS_END,
};
