/*
 * fuzz-plugins.c - libFuzzer harness for the API_PLUGINS list parser.
 *
 * Properties beyond "no crash, no UB": an accepted list is made of valid,
 * distinct names that join back into the input; a refused one yields one
 * line naming API_PLUGINS, without control bytes.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/conf.h"
#include "util/log.h"

static void
check_accepted(const char *list, char names[][EVAPI_NAME_MAX], size_t n)
{
	char joined[EVAPI_MAX_PLUGINS * EVAPI_NAME_MAX + EVAPI_MAX_PLUGINS];
	size_t i, j, o = 0;

	if (n == 0 || n > EVAPI_MAX_PLUGINS)
		abort();
	for (i = 0; i < n; i++) {
		size_t len = strlen(names[i]);

		if (!evapi_valid_plugin_name(names[i]))
			abort();
		for (j = 0; j < i; j++)
			if (strcmp(names[i], names[j]) == 0)
				abort();
		if (i > 0)
			joined[o++] = ',';
		memcpy(joined + o, names[i], len);
		o += len;
	}
	joined[o] = '\0';
	if (strcmp(joined, list) != 0)
		abort();
}

static void
check_refused(const char *err)
{
	const unsigned char *p = (const unsigned char *)err;

	if (strstr(err, "API_PLUGINS") == NULL)
		abort();
	for (; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char names[EVAPI_MAX_PLUGINS][EVAPI_NAME_MAX];
	char err[512];
	char *list;
	size_t n = 0;

	if (size > 4096)
		return 0;
	list = malloc(size + 1);
	if (list == NULL)
		return 0;
	memcpy(list, data, size);
	list[size] = '\0';
	err[0] = '\0';
	if (evapi_parse_plugin_list(list, names, EVAPI_MAX_PLUGINS, &n, err,
				    sizeof(err)) == EVAPI_OK)
		check_accepted(list, names, n);
	else
		check_refused(err);
	free(list);
	return 0;
}
