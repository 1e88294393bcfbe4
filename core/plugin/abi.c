/*
 * abi.c - is a descriptor one this host can run? Checked at load, before
 * any of the plugin's code runs, and reported field by field the way
 * PostgreSQL reports an incompatible module: never just "incompatible".
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "config/settings.h"
#include "host.h"
#include "util/log.h"

/* The smallest descriptor of ABI 2.0: everything up to fini. */
#define DESC_MIN_SIZE                                                          \
	(offsetof(struct evapi_plugin, fini) + sizeof(void (*)(void *)))

struct field_diff {
	const char *field;
	unsigned long host, plugin;
};

void
evapi_plugin_report(const char *name, const char *path, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	evapi_err("plugin \"%s\" (%s): %s", name, path, msg);
}

static int
check_magic(const struct evapi_plugin *p, const char *name, const char *path)
{
	if (p->magic == EVAPI_PLUGIN_MAGIC)
		return EVAPI_OK;
	evapi_plugin_report(name, path,
			    "bad magic 0x%08lx, expected 0x%08lx: the "
			    "descriptor evapi_plugin_%s is not an evapi plugin "
			    "descriptor",
			    (unsigned long)p->magic,
			    (unsigned long)EVAPI_PLUGIN_MAGIC, name);
	return EVAPI_ERR;
}

static int
check_abi(const struct evapi_plugin *p, const char *name, const char *path)
{
	struct field_diff d[8];
	size_t nd = 0, i;

#define DIFF(f, h)                                                             \
	do {                                                                   \
		if ((unsigned long)p->f != (unsigned long)(h))                 \
			d[nd++] = (struct field_diff){#f, (unsigned long)(h),  \
						      (unsigned long)p->f};    \
	} while (0)
	DIFF(abi_major, EVAPI_ABI_MAJOR);
	DIFF(pointer_size, sizeof(void *));
	DIFF(long_size, sizeof(long));
	DIFF(int_size, sizeof(int));
	DIFF(big_endian, __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__);
#undef DIFF
	if (p->abi_major == EVAPI_ABI_MAJOR && p->abi_minor > EVAPI_ABI_MINOR)
		d[nd++] = (struct field_diff){"abi_minor (plugin needs newer)",
					      EVAPI_ABI_MINOR, p->abi_minor};
	if (p->abi_major == EVAPI_ABI_MAJOR && p->size < DESC_MIN_SIZE)
		d[nd++] = (struct field_diff){"size (at least)", DESC_MIN_SIZE,
					      p->size};
	if (nd == 0)
		return EVAPI_OK;
	evapi_plugin_report(name, path,
			    "incompatible plugin ABI: built for evapi ABI "
			    "%u.%u, this evapi has ABI %u.%u%s",
			    p->abi_major, p->abi_minor, EVAPI_ABI_MAJOR,
			    EVAPI_ABI_MINOR,
			    p->abi_major != EVAPI_ABI_MAJOR
				    ? ": rebuild the plugin against this "
				      "evapi's <evapi/plugin.h>"
				    : "");
	for (i = 0; i < nd; i++)
		evapi_err("  %s: evapi expects %lu, plugin has %lu", d[i].field,
			  d[i].host, d[i].plugin);
	return EVAPI_ERR;
}

static int
check_tables(const struct evapi_plugin *p, const char *name, const char *path)
{
	const struct evapi_setting *s;
	const struct evapi_route *r;
	const char *why;

	for (s = p->settings; s != NULL && s->name != NULL; s++)
		if (!evapi_setting_valid(s, &why)) {
			evapi_plugin_report(name, path, "setting %.64s: %s",
					    s->name ? s->name : "(null)", why);
			return EVAPI_ERR;
		}
	for (r = p->routes; r != NULL && r->pattern != NULL; r++)
		if (r->handler == NULL || r->methods == 0) {
			evapi_plugin_report(name, path,
					    "route %.200s has no handler or "
					    "no method",
					    r->pattern);
			return EVAPI_ERR;
		}
	return EVAPI_OK;
}

int
evapi_plugin_check(const struct evapi_plugin *p, const char *name,
		   const char *path)
{
	if (check_magic(p, name, path) != EVAPI_OK ||
	    check_abi(p, name, path) != EVAPI_OK)
		return EVAPI_ERR;
	if (p->name == NULL || strcmp(p->name, name) != 0) {
		evapi_plugin_report(name, path, "descriptor names itself "
				    "\"%.64s\"",
				    p->name ? p->name : "(null)");
		return EVAPI_ERR;
	}
	return check_tables(p, name, path);
}
