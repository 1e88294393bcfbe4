/*
 * settings.h - typed settings: an environment variable's value parsed and
 * checked against its declaration (struct evapi_setting, plugin.h), with
 * one error line naming what is wrong. The core's own variables use the
 * same declarations (vars.c), with a few types only the core needs.
 */
#ifndef EVAPI_CONFIG_SETTINGS_H
#define EVAPI_CONFIG_SETTINGS_H

#include <stddef.h>

#include <evapi/plugin.h>

/* Core-only types and flags. */
#define EVAPI_SETTING_ADDRESS ((enum evapi_setting_type)100) /* IP literal */
#define EVAPI_SETTING_PATHS ((enum evapi_setting_type)101)   /* dir[:dir] */
#define EVAPI_SETTING_PLUGINS ((enum evapi_setting_type)102) /* a,b,c */
#define EVAPI_SETTING_AUTO 0x100u  /* INT: "auto" is allowed too (0) */
#define EVAPI_SETTING_ASCII 0x200u /* STRING: printable ASCII only */
/* The default depends on how evapi was configured: the documentation
 * names it in words, --help gives this build's. */
#define EVAPI_SETTING_BUILD_DEFAULT 0x400u

struct evapi_value {
	int set;     /* a value (given or default) */
	int is_auto; /* "auto" */
	long long i; /* INT, DURATION (ms), BOOL */
	char *s;     /* the text (STRING, ENUM, SECRET, ADDRESS, ...), owned */
};

/* Parse RAW (NULL or "": unset, the default applies) for S into OUT.
 * EVAPI_OK, or EVAPI_ERR with one line in ERR ("NAME=... is not valid:
 * expected ..."; a secret's value is never in it). */
int evapi_setting_parse(const struct evapi_setting *s, const char *raw,
			struct evapi_value *out, char *err, size_t errlen);
void evapi_value_clear(struct evapi_value *v);
/* What S allows, in words ("a whole number from 1 to 65535"). */
void evapi_setting_expected(const struct evapi_setting *s, char *out,
			    size_t outlen);
/* "NAME=\"value\" is not valid: expected WHAT" (VALUE quoted safely,
 * NULL: "NAME is not set: ..."). */
void evapi_config_error_line(char *err, size_t errlen, const char *name,
			     const char *value, const char *expected);
/* A setting declaration is usable (for plugins' tables). */
int evapi_setting_valid(const struct evapi_setting *s, const char **why);

#endif
