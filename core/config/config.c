/*
 * config.c - the environment, parsed and checked before anything binds.
 *
 * Every variable is declared once, in vars.c; this file stores the parsed
 * values and checks the rules that tie two variables together. Parsing is
 * pure (the environment comes through a callback), so the unit tests and
 * the fuzzer drive it directly.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "conf.h"
#include "util/log.h"

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

static int
list_error(char *err, size_t errlen, const char *list, const char *what)
{
	char allowed[200];
	size_t j;

	snprintf(allowed, sizeof(allowed), "%s", what);
	/* Control bytes (DEL too: found by the fuzzer) never reach the error
	 * line. */
	for (j = 0; allowed[j] != '\0'; j++)
		if ((unsigned char)allowed[j] < 0x20 || allowed[j] == 0x7f)
			allowed[j] = '?';
	evapi_config_error_line(err, errlen, "API_PLUGINS", list, allowed);
	return EVAPI_ERR;
}

int
evapi_parse_plugin_list(const char *list, char names[][EVAPI_NAME_MAX],
			size_t max, size_t *n, char *err, size_t errlen)
{
	const char *p = list, *comma;
	size_t count = 0, len, j;
	char name[EVAPI_NAME_MAX], what[200];

	for (;;) {
		comma = strchr(p, ',');
		len = comma ? (size_t)(comma - p) : strlen(p);
		if (len == 0)
			return list_error(err, errlen, list,
					  "comma-separated plugin names "
					  "matching [a-z0-9_-]+, without empty "
					  "entries");
		if (len >= EVAPI_NAME_MAX)
			return list_error(err, errlen, list,
					  "plugin names of at most 63 bytes");
		memcpy(name, p, len);
		name[len] = '\0';
		if (!evapi_valid_plugin_name(name)) {
			snprintf(what, sizeof(what),
				 "plugin names matching [a-z0-9_-]+ (bad "
				 "name: \"%.63s\")",
				 name);
			return list_error(err, errlen, list, what);
		}
		for (j = 0; j < count; j++)
			if (strcmp(names[j], name) == 0) {
				snprintf(what, sizeof(what),
					 "each plugin once (\"%s\" is listed "
					 "twice)",
					 name);
				return list_error(err, errlen, list, what);
			}
		if (count == max)
			return list_error(err, errlen, list,
					  "at most 32 plugins");
		memcpy(names[count++], name, len + 1);
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	*n = count;
	return EVAPI_OK;
}

/* ---- storing ----------------------------------------------------------------- */

static int
copy_text(char *dst, size_t dstlen, const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n >= dstlen)
		return EVAPI_ERR;
	memcpy(dst, s ? s : "", n + 1);
	return EVAPI_OK;
}

/* Put V, the parsed value of variable NAME, into CFG. */
static int
store(struct evapi_config *cfg, const char *name, const struct evapi_value *v,
      char *err, size_t errlen)
{
	unsigned u = (unsigned)v->i;

	if (strcmp(name, "PORT") == 0)
		cfg->port = u;
	else if (strcmp(name, "BIND_ADDRESS") == 0)
		return copy_text(cfg->bind_address, sizeof(cfg->bind_address),
				 v->s);
	else if (strcmp(name, "LOG_LEVEL") == 0)
		cfg->log_level = evapi_log_level_parse(v->s);
	else if (strcmp(name, "ENVIRONMENT") == 0)
		return copy_text(cfg->environment, sizeof(cfg->environment),
				 v->s);
	else if (strcmp(name, "API_PLUGINS") == 0)
		return evapi_parse_plugin_list(v->s, cfg->plugin_names,
					       EVAPI_MAX_PLUGINS,
					       &cfg->nplugins, err, errlen);
	else if (strcmp(name, "API_PLUGIN_PATH") == 0) {
		if (v->set)
			return copy_text(cfg->plugin_path,
					 sizeof(cfg->plugin_path), v->s);
	} else if (strcmp(name, "API_PLUGIN_DIR") == 0) {
		/* API_PLUGIN_PATH, when set, comes first in the table. */
		if (cfg->plugin_path[0] == '\0')
			return copy_text(cfg->plugin_path,
					 sizeof(cfg->plugin_path), v->s);
	} else if (strcmp(name, "WORKERS") == 0)
		cfg->workers = u;
	else if (strcmp(name, "SHUTDOWN_TIMEOUT") == 0)
		cfg->shutdown_timeout = u;
	else if (strcmp(name, "DRAIN_DELAY") == 0)
		cfg->drain_delay = u;
	else if (strcmp(name, "MAX_HEADER_SIZE") == 0)
		cfg->max_header_size = (unsigned long)v->i;
	else if (strcmp(name, "MAX_BODY_SIZE") == 0)
		cfg->max_body_size = (unsigned long)v->i;
	else if (strcmp(name, "IDLE_TIMEOUT") == 0)
		cfg->idle_timeout = u;
	else if (strcmp(name, "HEADER_TIMEOUT") == 0)
		cfg->header_timeout = u;
	else if (strcmp(name, "MAX_CONNECTIONS") == 0)
		cfg->max_connections = (unsigned long)v->i;
	else if (strcmp(name, "PROBE_PORT") == 0)
		cfg->probe_port = v->set ? u : 0;
	else if (strcmp(name, "ACCESS_LOG") == 0)
		cfg->access_log = (int)v->i;
	else if (strcmp(name, "ACCESS_LOG_PROBES") == 0)
		cfg->access_log_probes = (int)v->i;
	else if (strcmp(name, "HEALTHCHECK_PATH") == 0)
		return copy_text(cfg->healthcheck_path,
				 sizeof(cfg->healthcheck_path), v->s);
	else if (strcmp(name, "HEALTHCHECK_TIMEOUT_MS") == 0)
		cfg->healthcheck_timeout_ms = u;
	return EVAPI_OK;
}

/* The rules between variables. */
static int
cross_checks(const struct evapi_config *cfg, evapi_getenv_fn get, void *arg,
	     char *err, size_t errlen)
{
	char exp[96];

	if (cfg->drain_delay >= cfg->shutdown_timeout) {
		snprintf(exp, sizeof(exp),
			 "a whole number of seconds below SHUTDOWN_TIMEOUT (%u)",
			 cfg->shutdown_timeout);
		evapi_config_error_line(err, errlen, "DRAIN_DELAY",
					get("DRAIN_DELAY", arg), exp);
		return EVAPI_ERR;
	}
	if (cfg->probe_port != 0 && cfg->probe_port == cfg->port) {
		evapi_config_error_line(err, errlen, "PROBE_PORT",
					get("PROBE_PORT", arg),
					"a port other than PORT");
		return EVAPI_ERR;
	}
	if (cfg->healthcheck_path[0] != '/' ||
	    strpbrk(cfg->healthcheck_path, " ?#") != NULL) {
		evapi_config_error_line(err, errlen, "HEALTHCHECK_PATH",
					cfg->healthcheck_path,
					"an absolute path without spaces, '?' "
					"or '#'");
		return EVAPI_ERR;
	}
	return EVAPI_OK;
}

int
evapi_config_load(struct evapi_config *cfg, evapi_getenv_fn get, void *arg,
		  char *err, size_t errlen)
{
	const struct evapi_setting *s;
	struct evapi_value v;
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	if (errlen > 0)
		err[0] = '\0';
	for (s = evapi_core_vars; s->name != NULL; s++) {
		if (evapi_setting_parse(s, get(s->name, arg), &v, err,
					errlen) != EVAPI_OK)
			return EVAPI_ERR;
		rc = store(cfg, s->name, &v, err, errlen);
		if (rc != EVAPI_OK && err[0] == '\0') {
			char exp[160];

			evapi_setting_expected(s, exp, sizeof(exp));
			evapi_config_error_line(err, errlen, s->name, v.s, exp);
		}
		evapi_value_clear(&v);
		if (rc != EVAPI_OK)
			return EVAPI_ERR;
	}
	return cross_checks(cfg, get, arg, err, errlen);
}
