/*
 * test-config.c - unit tests of the environment parser, the plugin-list
 * parser and the password redaction, driven without a process
 * environment (the parser takes a lookup callback).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "evapi-internal.h"
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
	test_bad("API_PLUGIN_DIR", "relative/dir", "absolute path");
	test_bad("ENVIRONMENT", "bad\nline", "printable");
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

static void
redacts(const char *in, const char *want)
{
	char out[512];

	evapi_redact_conninfo(in, out, sizeof(out));
	is_str(out, want, "redact %s", want);
}

/* No byte run of the password may survive: check each FRAGMENT (the
 * pieces a naive parser would split it into) is absent. */
static void
hides(const char *in, const char *const *fragments)
{
	char out[512];

	evapi_redact_conninfo(in, out, sizeof(out));
	for (; *fragments; fragments++)
		ok(strstr(out, *fragments) == NULL, "%s hides %s (got %s)", in,
		   *fragments, out);
}

static void
test_redact_hostile(void)
{
	static const char *const upper[] = {"S3cretPass", NULL};
	static const char *const query[] = {"S3c", "retPass", NULL};
	static const char *const at[] = {"pa", "ss1234", NULL};
	static const char *const slash[] = {"pa/", "ss@", "ss", NULL};
	static const char *const hash[] = {"ab", "cd", NULL};
	static const char *const esc[] = {"S3c", "retPass", NULL};
	static const char *const ssl[] = {"K3yPass", NULL};

	/* The scheme is matched in any case. */
	redacts("POSTGRESQL://app:S3cretPass@db/app", "POSTGRESQL://app:***@db/app");
	redacts("Postgres://app:S3cretPass@db/app", "Postgres://app:***@db/app");
	hides("POSTGRESQL://app:S3cretPass@db/app", upper);
	/* libpq ends the userinfo at the first '@' before the first '/',
	 * whatever '?' or '#' come before it. */
	redacts("postgresql://app:S3c?retPass@db/app?foo=1",
		"postgresql://app:***@db/app?foo=1");
	hides("postgresql://app:S3c?retPass@db/app?foo=1", query);
	hides("postgresql://app:S3c#retPass@db/app", query);
	/* Unencoded '@' and '/' in the password: hide up to the last '@'. */
	redacts("postgresql://app:pa@ss1234@db/app", "postgresql://app:***@db/app");
	hides("postgresql://app:pa@ss1234@db/app", at);
	redacts("postgresql://app:pa/ss@db/app", "postgresql://app:***@db/app");
	hides("postgresql://app:pa/ss@db/app", slash);
	/* '#' does not end a URI parameter value for libpq. */
	redacts("postgresql://app@db/app?password=ab#cd&sslmode=disable",
		"postgresql://app@db/app?password=***&sslmode=disable");
	hides("postgresql://app@db/app?password=ab#cd", hash);
	/* key=value: a backslash escapes white space in unquoted values. */
	redacts("host=db password=S3c\\ retPass nosuch=1",
		"host=db password=*** nosuch=1");
	hides("host=db password=S3c\\ retPass nosuch=1", esc);
	redacts("host=db password=S3c\\\\ retPass=1",
		"host=db password=*** retPass=1");
	redacts("password='S3c\\' retPass' host=db", "password=*** host=db");
	hides("password='S3c\\' retPass' host=db", esc);
	redacts("password S3cretPass host=db", "password ***");
	hides("password S3cretPass host=db", upper);
	/* Every key containing "password", in both forms. */
	redacts("host=db sslpassword=K3yPass sslkey=/k",
		"host=db sslpassword=*** sslkey=/k");
	redacts("postgresql://app@db/app?sslpassword=K3yPass&sslmode=require",
		"postgresql://app@db/app?sslpassword=***&sslmode=require");
	redacts("postgresql://app@db/app?ssl%70assword=K3yPass",
		"postgresql://app@db/app?ssl%70assword=***");
	hides("postgresql://app@db/app?%73slpassword=K3yPass", ssl);
	hides("host=db SSLPASSWORD = 'K3yPass'", ssl);
}

static void
test_redact(void)
{
	redacts("postgresql://app:s3cret@db:5432/app?sslmode=disable",
		"postgresql://app:***@db:5432/app?sslmode=disable");
	redacts("postgres://app:p@ss@db/app", "postgres://app:***@db/app");
	redacts("postgresql://app@db/app?password=s3cret&sslmode=require",
		"postgresql://app@db/app?password=***&sslmode=require");
	redacts("host=db user=app password=s3cret dbname=app",
		"host=db user=app password=*** dbname=app");
	redacts("host=db password = 'se cr\\'et' dbname=app",
		"host=db password=*** dbname=app");
	redacts("postgresql:///app?host=/run/pg", "postgresql:///app?host=/run/pg");
	redacts("postgresql://app@db/app?%70assword=s3cret",
		"postgresql://app@db/app?%70assword=***");
	redacts("postgresql://app@db/app?sslmode=require&PASSWORD=s3cret",
		"postgresql://app@db/app?sslmode=require&PASSWORD=***");
	/* A dbname that is itself a connection string is hidden whole. */
	redacts("host=db dbname=postgresql://u:s3cret@h/db user=app",
		"host=db dbname=*** user=app");
	redacts("dbname='host=h password=s3cret' user=app",
		"dbname=*** user=app");
	redacts("host=db dbname=app", "host=db dbname=app");
	redacts("postgresql://app@db/postgresql%3A%2F%2Fu%3As3cret%40h",
		"postgresql://app@db/***");
	redacts("postgresql://app@db/x%3Dy?sslmode=require",
		"postgresql://app@db/***?sslmode=require");
	redacts("postgresql://app@db/app?d%62name=password%3Ds3cret&a=b",
		"postgresql://app@db/app?d%62name=***&a=b");
	redacts("postgresql://app@db/app?dbname=other",
		"postgresql://app@db/app?dbname=other");
}

int
main(void)
{
	test_defaults();
	test_ports();
	test_other_vars();
	test_plugin_lists();
	test_quoting();
	test_redact();
	test_redact_hostile();
	return tap_done();
}
