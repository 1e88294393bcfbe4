/*
 * log.h - the core's log: one JSON object per line on stdout, and plain
 * "evapi: ..." lines on stderr for errors before the server runs.
 */
#ifndef EVAPI_UTIL_LOG_H
#define EVAPI_UTIL_LOG_H

#include <stdarg.h>

#include <evapi/plugin.h> /* enum evapi_log_level */

/* sysexits.h EX_CONFIG: every configuration or plugin error exits so. */
#define EVAPI_EXIT_CONFIG 78
/* sysexits.h EX_USAGE. */
#define EVAPI_EXIT_USAGE 64

extern int evapi_log_level;
/* Set by --check-config: no JSON lines on stdout; warnings and errors
 * become plain "evapi: ..." lines on stderr, the rest is dropped. */
extern int evapi_log_plain;

/* MSG, then NULL-terminated key/value string pairs. */
void evapi_core_log(int level, const char *msg, ...)
	__attribute__((sentinel));
void evapi_core_logv(int level, const char *msg, va_list ap);
int evapi_log_level_parse(const char *s);
const char *evapi_log_level_name(int level);
/* One line "evapi: ..." on stderr. */
void evapi_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The same, then exit EVAPI_EXIT_CONFIG. */
void evapi_die_config(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

#endif
