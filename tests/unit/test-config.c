/*
 * test-config.c - unit tests of the environment parser, the plugin-list
 * parser and typed settings, driven without a process environment (the
 * parser takes a lookup callback).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "config/conf.h"
#include "util/log.h"
#include "tap.h"

/* A fake environment: NULL-terminated name/value pairs. */
static const char *
fake_get(const char *name, void *arg)
{
	const char *const *kv = arg;

	for (; kv[0] != NULL; kv += 2)
		if (strcmp(kv[0], name) == 0)
			return kv[1];
	return NULL;
}

static int
load(const char *const *kv, struct evapi_config *cfg, char *err,
     size_t errlen)
{
	err[0] = '\0';
	return evapi_config_load(cfg, fake_get, (void *)kv, err, errlen);
}

static void
test_defaults(void)
{
	const char *const env[] = {NULL};
	struct evapi_config cfg;
	char err[512];

	ok(load(env, &cfg, err, sizeof(err)) == EVAPI_OK, "defaults load");
	ok(cfg.port == 8080, "PORT defaults to 8080");
	is_str(cfg.bind_address, "0.0.0.0", "BIND_ADDRESS default");
	ok(cfg.log_level == EVAPI_LOG_INFO, "LOG_LEVEL defaults to info");
	is_str(cfg.environment, "development", "ENVIRONMENT default");
	ok(cfg.nplugins == 3, "three default plugins");
	is_str(cfg.plugin_names[1], "ready", "ready is a default plugin");
	ok(cfg.shutdown_timeout == 5, "SHUTDOWN_TIMEOUT defaults to 5");
	ok(cfg.workers == 0, "WORKERS defaults to auto");
	ok(cfg.max_header_size == 8192, "MAX_HEADER_SIZE default 8 KiB");
	ok(cfg.max_body_size == 16384, "MAX_BODY_SIZE default 16 KiB");
	ok(cfg.header_timeout == 10, "HEADER_TIMEOUT defaults to 10");
	ok(cfg.max_connections == 0, "MAX_CONNECTIONS defaults to auto");
	ok(cfg.probe_port == 0, "PROBE_PORT defaults to none");
}

/* Each bad value fails, and the message names variable and value. */
static void
test_bad(const char *name, const char *value, const char *expect)
{
	const char *env[] = {name, value, NULL};
	struct evapi_config cfg;
	char err[512];
	int rc = load(env, &cfg, err, sizeof(err));

	ok(rc == EVAPI_ERR && strstr(err, name) != NULL &&
		   strstr(err, expect) != NULL,
	   "%s=\"%s\" rejected, naming it (%s)", name, value, err);
}

static void
test_good(const char *name, const char *value)
{
	const char *env[] = {name, value, NULL};
	struct evapi_config cfg;
	char err[512];

	ok(load(env, &cfg, err, sizeof(err)) == EVAPI_OK, "%s=\"%s\" accepted",
	   name, value);
}

static void
test_ports(void)
{
	static const char *const bad[] = {"abc", "70000", "0", "-1", "8080x",
					  " 80", "80 ", "+80", "0x50", "",
					  "99999999999999999999999", NULL};
	size_t i;

	for (i = 0; bad[i] != NULL; i++) {
		if (bad[i][0] == '\0')
			continue; /* empty means unset: the default */
		test_bad("PORT", bad[i], "1 to 65535");
	}
	test_good("PORT", "1");
	test_good("PORT", "65535");
	test_good("PORT", "");
}

static void
test_other_vars(void)
{
	test_bad("LOG_LEVEL", "loud", "debug, info, warn, error");
	test_bad("LOG_LEVEL", "INFO", "debug, info, warn, error");
	test_good("LOG_LEVEL", "warn");
	test_bad("BIND_ADDRESS", "localhost", "literal IPv4 or IPv6");
	test_bad("BIND_ADDRESS", "1.2.3.4.5", "literal IPv4 or IPv6");
	test_good("BIND_ADDRESS", "::");
	test_good("BIND_ADDRESS", "[::1]");
	test_good("BIND_ADDRESS", "127.0.0.1");
	test_bad("SHUTDOWN_TIMEOUT", "0", "1 to 3600");
	test_bad("SHUTDOWN_TIMEOUT", "5s", "1 to 3600");
	test_bad("DRAIN_DELAY", "5", "below SHUTDOWN_TIMEOUT");
	test_bad("WORKERS", "0", "auto or");
	test_bad("WORKERS", "many", "auto or");
	test_good("WORKERS", "auto");
	test_good("WORKERS", "4");
	test_bad("MAX_HEADER_SIZE", "10", "256 to");
	test_bad("API_PLUGIN_DIR", "relative/dir", "absolute directories");
	test_bad("API_PLUGIN_PATH", "/a::/b", "absolute directories");
	test_bad("API_PLUGIN_PATH", "/a:", "absolute directories");
	test_good("API_PLUGIN_PATH", "/a:/b");
	test_bad("HEALTHCHECK_PATH", "health", "absolute path");
	test_bad("PROBE_PORT", "8080", "other than PORT");
	test_good("MAX_CONNECTIONS", "1");
	test_bad("ENVIRONMENT", "bad\nline", "printable");
	test_bad("ENVIRONMENT", "caf\xc3\xa9", "printable ASCII");
	test_bad("ACCESS_LOG", "maybe", "on or off");
	test_bad("HEALTHCHECK_TIMEOUT_MS", "10", "100 to 60000");
}

static void
test_plugin_lists(void)
{
	static const char *const bad[] = {"../x", "/abs/x", "a/b", "health,,ready",
					  "Health", "health,", ",health",
					  "he alth", "health,health", NULL};
	char names[EVAPI_MAX_PLUGINS][EVAPI_NAME_MAX];
	char err[512];
	size_t n = 0, i;

	for (i = 0; bad[i] != NULL; i++)
		ok(evapi_parse_plugin_list(bad[i], names, EVAPI_MAX_PLUGINS, &n,
					   err, sizeof(err)) == EVAPI_ERR &&
			   strstr(err, "API_PLUGINS") != NULL,
		   "plugin list \"%s\" rejected (%s)", bad[i], err);
	ok(evapi_parse_plugin_list("health,my-plugin_2", names,
				   EVAPI_MAX_PLUGINS, &n, err,
				   sizeof(err)) == EVAPI_OK &&
		   n == 2 && strcmp(names[1], "my-plugin_2") == 0,
	   "a valid list parses into its names");
}

static void
test_quoting(void)
{
	const char *env[] = {"PORT", "1\n{\"level\":\"error\"}", NULL};
	struct evapi_config cfg;
	char err[512];

	load(env, &cfg, err, sizeof(err));
	ok(strchr(err, '\n') == NULL && strstr(err, "\\x0a") != NULL,
	   "a newline in a value cannot forge a second line (%s)", err);
}

/* A plugin's typed settings, parsed as the host parses them. */
static void
test_settings(void)
{
	static const struct evapi_setting sets[] = {
		{"S_INT", EVAPI_SETTING_INT, "5", 1, 10, NULL, "h", 0},
		{"S_DUR", EVAPI_SETTING_DURATION, "2s", 10, 60000, NULL, "h", 0},
		{"S_BOOL", EVAPI_SETTING_BOOL, "off", 0, 0, NULL, "h", 0},
		{"S_ENUM", EVAPI_SETTING_ENUM, "a", 0, 0, "a|bb|c", "h", 0},
		{"S_STR", EVAPI_SETTING_STRING, NULL, 1, 4, NULL, "h", 0},
		{"S_SECRET", EVAPI_SETTING_SECRET, NULL, 1, 100, NULL, "h",
		 EVAPI_SETTING_REQUIRED},
	};
	struct evapi_value v;
	char err[512];

	ok(evapi_setting_parse(&sets[0], NULL, &v, err, sizeof(err)) ==
			   EVAPI_OK && v.i == 5,
	   "INT default");
	ok(evapi_setting_parse(&sets[0], "11", &v, err, sizeof(err)) ==
			   EVAPI_ERR && strstr(err, "1 to 10"),
	   "INT out of range: %s", err);
	ok(evapi_setting_parse(&sets[1], NULL, &v, err, sizeof(err)) ==
			   EVAPI_OK && v.i == 2000,
	   "DURATION 2s is 2000 ms");
	ok(evapi_setting_parse(&sets[1], "1m", &v, err, sizeof(err)) ==
			   EVAPI_OK && v.i == 60000,
	   "DURATION 1m");
	ok(evapi_setting_parse(&sets[1], "250", &v, err, sizeof(err)) ==
			   EVAPI_OK && v.i == 250,
	   "DURATION, a bare number of ms");
	ok(evapi_setting_parse(&sets[1], "5ms", &v, err, sizeof(err)) ==
		   EVAPI_ERR,
	   "DURATION below its minimum");
	ok(evapi_setting_parse(&sets[1], "2 s", &v, err, sizeof(err)) ==
		   EVAPI_ERR,
	   "DURATION with a space");
	ok(evapi_setting_parse(&sets[2], "TRUE", &v, err, sizeof(err)) ==
			   EVAPI_OK && v.i == 1,
	   "BOOL in any case");
	ok(evapi_setting_parse(&sets[2], "yes", &v, err, sizeof(err)) ==
		   EVAPI_ERR,
	   "BOOL yes refused");
	ok(evapi_setting_parse(&sets[3], "bb", &v, err, sizeof(err)) ==
			   EVAPI_OK && !strcmp(v.s, "bb"),
	   "ENUM");
	evapi_value_clear(&v);
	ok(evapi_setting_parse(&sets[3], "b", &v, err, sizeof(err)) ==
			   EVAPI_ERR && strstr(err, "one of a, bb, c"),
	   "ENUM: %s", err);
	ok(evapi_setting_parse(&sets[4], NULL, &v, err, sizeof(err)) ==
			   EVAPI_OK && !v.set,
	   "STRING unset, no default");
	ok(evapi_setting_parse(&sets[4], "toolong", &v, err, sizeof(err)) ==
		   EVAPI_ERR,
	   "STRING too long");
	ok(evapi_setting_parse(&sets[5], NULL, &v, err, sizeof(err)) ==
			   EVAPI_ERR && strstr(err, "S_SECRET is not set"),
	   "a required setting: %s", err);
	ok(evapi_setting_parse(&sets[5], "pw hunter2", &v, err,
			       sizeof(err)) == EVAPI_OK,
	   "a secret");
	evapi_value_clear(&v);
	ok(evapi_setting_parse(&sets[5], "hunter2\n", &v, err, sizeof(err)) ==
			   EVAPI_ERR && strstr(err, "hunter2") == NULL,
	   "a bad secret is never printed: %s", err);
}

int
main(void)
{
	test_defaults();
	test_ports();
	test_other_vars();
	test_plugin_lists();
	test_quoting();
	test_settings();
	return tap_done();
}
