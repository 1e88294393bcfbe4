/*
 * fuzz-config.c - libFuzzer harness for the environment parser.
 *
 * The input is an environment, one NAME=value per line (the last one of a
 * name wins); evapi_config_load reads it through its getenv callback, as
 * the unit tests do. Properties checked beyond "no crash, no UB, no leak":
 * a loaded configuration is within the documented ranges, and an error is
 * exactly one non-empty line without control bytes (an error line cannot
 * forge a second log line).
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/conf.h"
#include "util/log.h"

#define MAX_VARS 64

struct fake_env {
	char *names[MAX_VARS];
	char *values[MAX_VARS];
	size_t n;
};

static const char *
fake_get(const char *name, void *arg)
{
	const struct fake_env *e = arg;
	size_t i = e->n;

	while (i-- > 0)
		if (strcmp(e->names[i], name) == 0)
			return e->values[i];
	return NULL;
}

/* Split BUF (NUL-terminated, modified) into NAME=value lines. */
static void
parse_env(char *buf, struct fake_env *e)
{
	char *line = buf, *next, *eq;

	e->n = 0;
	while (line != NULL && e->n < MAX_VARS) {
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		eq = strchr(line, '=');
		if (eq != NULL) {
			*eq = '\0';
			e->names[e->n] = line;
			e->values[e->n] = eq + 1;
			e->n++;
		}
		line = next;
	}
}

static void
check_loaded(const struct evapi_config *c)
{
	size_t i;

	if (c->port < 1 || c->port > 65535 || c->probe_port == c->port ||
	    c->probe_port > 65535 || c->nplugins > EVAPI_MAX_PLUGINS ||
	    c->workers > EVAPI_MAX_WORKERS || c->header_timeout < 1 ||
	    c->drain_delay >= c->shutdown_timeout ||
	    c->plugin_path[0] != '/' || c->healthcheck_path[0] != '/')
		abort();
	for (i = 0; i < c->nplugins; i++)
		if (!evapi_valid_plugin_name(c->plugin_names[i]))
			abort();
}

static void
check_error(const char *err)
{
	const unsigned char *p = (const unsigned char *)err;

	if (*p == '\0')
		abort();
	for (; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct evapi_config cfg;
	struct fake_env env;
	char err[512];
	char *buf;

	if (size > 8192)
		return 0;
	buf = malloc(size + 1);
	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	parse_env(buf, &env);
	err[0] = '\0';
	if (evapi_config_load(&cfg, fake_get, &env, err, sizeof(err)) ==
	    EVAPI_OK)
		check_loaded(&cfg);
	else
		check_error(err);
	free(buf);
	return 0;
}
