/*
 * redact.h - a PostgreSQL connection string with every password hidden,
 * fit for a log line or an error (redact.c).
 */
#ifndef EVAPI_PG_REDACT_H
#define EVAPI_PG_REDACT_H

#include <stddef.h>

/* Copy CONNINFO (URI or key=value) to OUT with any password replaced by
 * "***"; always NUL-terminates. */
void evapi_pg_redact(const char *conninfo, char *out, size_t outlen);

#endif
