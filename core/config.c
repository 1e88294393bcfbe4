/*
 * config.c - the environment, parsed and validated before anything binds.
 *
 * Every variable is described once, in evapi_core_vars[]: --help, the error
 * messages and the man page all come from that table. Parsing is pure (no
 * global state, the environment comes through a callback) so the unit tests
 * and the fuzzer drive it directly.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evapi-internal.h"

#ifndef EVAPI_DEFAULT_PLUGINS
#define EVAPI_DEFAULT_PLUGINS "health,ready,version"
#endif

const char evapi_default_plugin_dir[] = EVAPI_PLUGIN_DIR_DEFAULT;

const struct evapi_core_var evapi_core_vars[] = {
	{"PORT", "8080", "a whole number from 1 to 65535",
	 "TCP port to listen on"},
	{"BIND_ADDRESS", "0.0.0.0", "a literal IPv4 or IPv6 address",
	 "address to listen on (:: for every IPv6 and IPv4 address)"},
	{"LOG_LEVEL", "info", "one of debug, info, warn, error",
	 "least severe log level written to stdout"},
	{"ENVIRONMENT", "development",
	 "printable ASCII text of at most 127 bytes",
	 "deployment name, shown by /version and in the start log line"},
	{"API_PLUGINS", EVAPI_DEFAULT_PLUGINS,
	 "comma-separated plugin names matching [a-z0-9_-]+",
	 "plugins to activate, in order"},
	{"API_PLUGIN_DIR", EVAPI_PLUGIN_DIR_DEFAULT, "an absolute path",
	 "directory of plugin .so files (dynamic build only)"},
	{"WORKERS", "auto", "auto or a whole number from 1 to 256",
	 "event loops (threads); auto = CPUs this process may use"},
	{"SHUTDOWN_TIMEOUT", "5", "a whole number of seconds from 1 to 3600",
	 "longest drain after SIGTERM before evapi exits"},
	{"DRAIN_DELAY", "0",
	 "a whole number of seconds below SHUTDOWN_TIMEOUT",
	 "seconds to keep serving (with /ready 503) after SIGTERM"},
	{"MAX_HEADER_SIZE", "8192", "a whole number of bytes from 256 to 1048576",
	 "largest request line plus headers (else 400)"},
	{"MAX_BODY_SIZE", "16384", "a whole number of bytes from 0 to 16777216",
	 "largest request body (else 413)"},
	{"IDLE_TIMEOUT", "10", "a whole number of seconds from 1 to 3600",
	 "inactivity timeout of a connection (keep-alive idle, slow reads)"},
	{"HEADER_TIMEOUT", "10", "a whole number of seconds from 1 to 3600",
	 "longest time to receive a request head (and body), in total"},
	{"MAX_CONNECTIONS", "auto",
	 "auto or a whole number from 1 to 1048576",
	 "most connections at once; auto = 1024, lowered to fit RLIMIT_NOFILE"},
	{"PROBE_PORT", NULL,
	 "a whole number from 1 to 65535, other than PORT",
	 "extra port serving only /health, /ready and /version, outside "
	 "MAX_CONNECTIONS (64 connections of its own)"},
	{"ACCESS_LOG", "off", "on or off",
	 "one log line per request (always on at LOG_LEVEL=debug)"},
	{"HEALTHCHECK_TIMEOUT_MS", "2000",
	 "a whole number of milliseconds from 100 to 60000",
	 "deadline of evapi --healthcheck"},
	{NULL, NULL, NULL, NULL},
};

static const struct evapi_core_var *
var_find(const char *name)
{
	const struct evapi_core_var *v;

	for (v = evapi_core_vars; v->name != NULL; v++)
		if (strcmp(v->name, name) == 0)
			return v;
	return NULL;
}

/* Quote a value for an error line: bounded, control bytes escaped, so a
 * hostile value cannot forge extra log lines. */
static void
quote_value(const char *value, char *out, size_t outlen)
{
	size_t o = 0, i;

	if (outlen < 8) {
		if (outlen > 0)
			out[0] = '\0';
		return;
	}
	out[o++] = '"';
	for (i = 0; value[i] != '\0' && o + 6 < outlen; i++) {
		unsigned char c = (unsigned char)value[i];

		if (c < 0x20 || c == 0x7f || c == '"' || c == '\\')
			o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	if (value[i] != '\0' && o + 4 < outlen) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o++] = '"';
	out[o] = '\0';
}

void
evapi_config_error_line(char *err, size_t errlen, const char *name,
			const char *value, const char *allowed)
{
	char q[160];

	if (value == NULL) {
		snprintf(err, errlen, "%s is not set: expected %s", name,
			 allowed);
		return;
	}
	quote_value(value, q, sizeof(q));
	snprintf(err, errlen, "%s=%s is not valid: expected %s", name, q,
		 allowed);
}

static int
bad(char *err, size_t errlen, const char *name, const char *value)
{
	const struct evapi_core_var *v = var_find(name);

	evapi_config_error_line(err, errlen, name, value,
				v ? v->allowed : "a valid value");
	return EVAPI_ERR;
}

/* Digits only: no sign, no space, no suffix, no overflow. */
int
evapi_parse_uint(const char *s, unsigned long min, unsigned long max,
		 unsigned long *out)
{
	unsigned long v = 0;
	const char *p;

	if (s == NULL || *s == '\0' || strlen(s) > 20)
		return EVAPI_ERR;
	for (p = s; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return EVAPI_ERR;
		if (v > (ULONG_MAX - (unsigned long)(*p - '0')) / 10)
			return EVAPI_ERR;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v < min || v > max)
		return EVAPI_ERR;
	*out = v;
	return EVAPI_OK;
}

int
evapi_valid_plugin_name(const char *name)
{
	size_t i;

	if (name[0] == '\0')
		return 0;
	for (i = 0; name[i] != '\0'; i++) {
		char c = name[i];

		if (i >= EVAPI_NAME_MAX - 1)
			return 0;
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

int
evapi_parse_plugin_list(const char *list, char names[][EVAPI_NAME_MAX],
			size_t max, size_t *n, char *err, size_t errlen)
{
	const char *p = list, *comma;
	size_t count = 0, len, j;
	char name[EVAPI_NAME_MAX];

	for (;;) {
		comma = strchr(p, ',');
		len = comma ? (size_t)(comma - p) : strlen(p);
		if (len == 0 || len >= EVAPI_NAME_MAX) {
			evapi_config_error_line(err, errlen, "API_PLUGINS", list,
				len == 0 ? "comma-separated plugin names "
					   "matching [a-z0-9_-]+, without "
					   "empty entries"
					 : "plugin names of at most 63 bytes");
			return EVAPI_ERR;
		}
		memcpy(name, p, len);
		name[len] = '\0';
		if (!evapi_valid_plugin_name(name)) {
			char allowed[160];

			snprintf(allowed, sizeof(allowed),
				 "plugin names matching [a-z0-9_-]+ (bad "
				 "name: \"%.63s\")", name);
			/* Control bytes (DEL too: found by the fuzzer) never
			 * reach the error line. */
			for (j = 0; allowed[j] != '\0'; j++)
				if ((unsigned char)allowed[j] < 0x20 ||
				    allowed[j] == 0x7f)
					allowed[j] = '?';
			evapi_config_error_line(err, errlen, "API_PLUGINS",
						list, allowed);
			return EVAPI_ERR;
		}
		for (j = 0; j < count; j++) {
			if (strcmp(names[j], name) == 0) {
				char allowed[128];

				snprintf(allowed, sizeof(allowed),
					 "each plugin once (\"%s\" is listed "
					 "twice)", name);
				evapi_config_error_line(err, errlen,
						"API_PLUGINS", list, allowed);
				return EVAPI_ERR;
			}
		}
		if (count == max) {
			evapi_config_error_line(err, errlen, "API_PLUGINS", list,
						"at most 32 plugins");
			return EVAPI_ERR;
		}
		memcpy(names[count++], name, len + 1);
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	*n = count;
	return EVAPI_OK;
}

/* Fetch NAME; empty counts as unset (docker and compose pass empty
 * strings for variables that are declared but not given a value). */
static const char *
get_var(evapi_getenv_fn get, void *arg, const char *name)
{
	const char *v = get(name, arg);

	return (v != NULL && *v != '\0') ? v : NULL;
}

static int
load_uint(evapi_getenv_fn get, void *arg, const char *name,
	  unsigned long min, unsigned long max, unsigned long *out,
	  char *err, size_t errlen)
{
	const char *v = get_var(get, arg, name);

	if (v == NULL)
		v = var_find(name)->dflt;
	if (evapi_parse_uint(v, min, max, out) != EVAPI_OK)
		return bad(err, errlen, name, v);
	return EVAPI_OK;
}

static int
load_text(evapi_getenv_fn get, void *arg, const char *name, char *dst,
	  size_t dstlen, char *err, size_t errlen)
{
	const char *v = get_var(get, arg, name);
	size_t i;

	if (v == NULL)
		v = var_find(name)->dflt;
	if (strlen(v) >= dstlen)
		return bad(err, errlen, name, v);
	for (i = 0; v[i] != '\0'; i++)
		if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
			return bad(err, errlen, name, v);
	memcpy(dst, v, strlen(v) + 1);
	return EVAPI_OK;
}

static int
load_bind_address(struct evapi_config *cfg, evapi_getenv_fn get, void *arg,
		  char *err, size_t errlen)
{
	const char *v = get_var(get, arg, "BIND_ADDRESS");
	unsigned char buf[16];
	char addr[64];
	size_t len;

	if (v == NULL)
		v = "0.0.0.0";
	len = strlen(v);
	if (len == 0 || len >= sizeof(addr))
		return bad(err, errlen, "BIND_ADDRESS", v);
	/* Accept the bracketed form of URLs too: [::1] */
	if (v[0] == '[' && len > 2 && v[len - 1] == ']') {
		memcpy(addr, v + 1, len - 2);
		addr[len - 2] = '\0';
	} else {
		memcpy(addr, v, len + 1);
	}
	if (inet_pton(AF_INET, addr, buf) != 1 &&
	    inet_pton(AF_INET6, addr, buf) != 1)
		return bad(err, errlen, "BIND_ADDRESS", v);
	memcpy(cfg->bind_address, addr, strlen(addr) + 1);
	return EVAPI_OK;
}

static int
load_workers(struct evapi_config *cfg, evapi_getenv_fn get, void *arg,
	     char *err, size_t errlen)
{
	const char *v = get_var(get, arg, "WORKERS");
	unsigned long n;

	if (v == NULL || strcmp(v, "auto") == 0) {
		cfg->workers = 0;
		return EVAPI_OK;
	}
	if (evapi_parse_uint(v, 1, EVAPI_MAX_WORKERS, &n) != EVAPI_OK)
		return bad(err, errlen, "WORKERS", v);
	cfg->workers = (unsigned)n;
	return EVAPI_OK;
}

static int
load_flag(evapi_getenv_fn get, void *arg, const char *name, int *out,
	  char *err, size_t errlen)
{
	const char *v = get_var(get, arg, name);

	if (v == NULL)
		v = var_find(name)->dflt;
	if (strcmp(v, "on") == 0 || strcmp(v, "true") == 0 ||
	    strcmp(v, "1") == 0)
		*out = 1;
	else if (strcmp(v, "off") == 0 || strcmp(v, "false") == 0 ||
		 strcmp(v, "0") == 0)
		*out = 0;
	else
		return bad(err, errlen, name, v);
	return EVAPI_OK;
}

static int
load_limits(struct evapi_config *cfg, evapi_getenv_fn get, void *arg,
	    char *err, size_t errlen)
{
	unsigned long v;

	if (load_uint(get, arg, "SHUTDOWN_TIMEOUT", 1, 3600, &v, err,
		      errlen) != EVAPI_OK)
		return EVAPI_ERR;
	cfg->shutdown_timeout = (unsigned)v;
	if (load_uint(get, arg, "DRAIN_DELAY", 0, cfg->shutdown_timeout - 1,
		      &v, err, errlen) != EVAPI_OK)
		return EVAPI_ERR;
	cfg->drain_delay = (unsigned)v;
	if (load_uint(get, arg, "MAX_HEADER_SIZE", 256, 1048576,
		      &cfg->max_header_size, err, errlen) != EVAPI_OK)
		return EVAPI_ERR;
	if (load_uint(get, arg, "MAX_BODY_SIZE", 0, 16777216,
		      &cfg->max_body_size, err, errlen) != EVAPI_OK)
		return EVAPI_ERR;
	if (load_uint(get, arg, "IDLE_TIMEOUT", 1, 3600, &v, err, errlen) !=
	    EVAPI_OK)
		return EVAPI_ERR;
	cfg->idle_timeout = (unsigned)v;
	if (load_uint(get, arg, "HEALTHCHECK_TIMEOUT_MS", 100, 60000, &v, err,
		      errlen) != EVAPI_OK)
		return EVAPI_ERR;
	cfg->healthcheck_timeout_ms = (unsigned)v;
	return EVAPI_OK;
}

/* The connection cap, the request-head deadline and the probe port. */
static int
load_conn_limits(struct evapi_config *cfg, evapi_getenv_fn get, void *arg,
		 char *err, size_t errlen)
{
	const char *v = get_var(get, arg, "MAX_CONNECTIONS");
	unsigned long n;

	/* 0 means auto: the server derives it from RLIMIT_NOFILE. */
	cfg->max_connections = 0;
	if (v != NULL && strcmp(v, "auto") != 0) {
		if (evapi_parse_uint(v, 1, 1048576, &n) != EVAPI_OK)
			return bad(err, errlen, "MAX_CONNECTIONS", v);
		cfg->max_connections = n;
	}
	if (load_uint(get, arg, "HEADER_TIMEOUT", 1, 3600, &n, err, errlen) !=
	    EVAPI_OK)
		return EVAPI_ERR;
	cfg->header_timeout = (unsigned)n;
	v = get_var(get, arg, "PROBE_PORT");
	cfg->probe_port = 0;
	if (v != NULL) {
		if (evapi_parse_uint(v, 1, 65535, &n) != EVAPI_OK ||
		    n == cfg->port)
			return bad(err, errlen, "PROBE_PORT", v);
		cfg->probe_port = (unsigned)n;
	}
	return EVAPI_OK;
}

int
evapi_config_load(struct evapi_config *cfg, evapi_getenv_fn get, void *arg,
		  char *err, size_t errlen)
{
	unsigned long v;
	const char *s;

	memset(cfg, 0, sizeof(*cfg));
	if (load_uint(get, arg, "PORT", 1, 65535, &v, err, errlen) != EVAPI_OK)
		return EVAPI_ERR;
	cfg->port = (unsigned)v;
	if (load_bind_address(cfg, get, arg, err, errlen) != EVAPI_OK)
		return EVAPI_ERR;

	s = get_var(get, arg, "LOG_LEVEL");
	cfg->log_level = evapi_log_level_parse(s ? s : "info");
	if (cfg->log_level < 0)
		return bad(err, errlen, "LOG_LEVEL", s);

	if (load_text(get, arg, "ENVIRONMENT", cfg->environment,
		      sizeof(cfg->environment), err, errlen) != EVAPI_OK)
		return EVAPI_ERR;
	/* It is served in /version: keep it valid JSON whatever the bytes. */
	for (s = cfg->environment; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return bad(err, errlen, "ENVIRONMENT", cfg->environment);

	if (load_text(get, arg, "API_PLUGINS", cfg->plugins_raw,
		      sizeof(cfg->plugins_raw), err, errlen) != EVAPI_OK)
		return EVAPI_ERR;
	if (evapi_parse_plugin_list(cfg->plugins_raw, cfg->plugin_names,
				    EVAPI_MAX_PLUGINS, &cfg->nplugins, err,
				    errlen) != EVAPI_OK)
		return EVAPI_ERR;

	if (load_text(get, arg, "API_PLUGIN_DIR", cfg->plugin_dir,
		      sizeof(cfg->plugin_dir), err, errlen) != EVAPI_OK)
		return EVAPI_ERR;
	if (cfg->plugin_dir[0] != '/')
		return bad(err, errlen, "API_PLUGIN_DIR", cfg->plugin_dir);

	if (load_workers(cfg, get, arg, err, errlen) != EVAPI_OK)
		return EVAPI_ERR;
	if (load_limits(cfg, get, arg, err, errlen) != EVAPI_OK)
		return EVAPI_ERR;
	if (load_conn_limits(cfg, get, arg, err, errlen) != EVAPI_OK)
		return EVAPI_ERR;
	if (load_flag(get, arg, "ACCESS_LOG", &cfg->access_log, err,
		      errlen) != EVAPI_OK)
		return EVAPI_ERR;
	return EVAPI_OK;
}
