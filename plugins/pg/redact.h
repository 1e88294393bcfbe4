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

/* Length of a "postgresql://" or "postgres://" prefix in any case, 0 if
 * none: what the user meant as a URI (libpq itself wants lower case). */
size_t evapi_pg_uri_prefix(const char *s);

#endif
