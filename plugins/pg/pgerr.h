/*
 * pgerr.h - why a PostgreSQL check failed: libpq's and the server's
 * messages, scrubbed of the password and classified into short fixed
 * reasons that are safe to show anyone (pgerr.c).
 */
#ifndef EVAPI_PG_PGERR_H
#define EVAPI_PG_PGERR_H

#include <stddef.h>

#include <libpq-fe.h>

enum pgcheck_reason {
	PGCHECK_OK = 0,
	PGCHECK_TIMEOUT,
	PGCHECK_REFUSED,
	PGCHECK_AUTH,
	PGCHECK_NO_DATABASE,
	PGCHECK_HOST_NOT_FOUND,
	PGCHECK_DNS_ERROR,
	PGCHECK_UNREACHABLE,
	PGCHECK_SHUTTING_DOWN,
	PGCHECK_STARTING_UP,
	PGCHECK_TOO_MANY,
	PGCHECK_LOST,
	PGCHECK_TLS,
	PGCHECK_CONNECT_FAILED,
	PGCHECK_QUERY_FAILED,
	PGCHECK_INTERNAL,
	PGCHECK_NREASONS
};

/* "timeout", "connection refused", ...: never libpq text. */
const char *evapi_pgerr_reason_str(enum pgcheck_reason reason);
/* MSG as one trimmed line in OUT, every occurrence of PASSWORD (when it
 * has 4 bytes or more) replaced by "***" before any cut. */
void evapi_pgerr_clean(const char *password, char *out, size_t outlen,
		       const char *msg);
/* A message's reason; CONNECTING: it came while connecting. */
enum pgcheck_reason evapi_pgerr_classify(const char *msg, int connecting);
/* An error result's reason (its SQLSTATE, then its message). */
enum pgcheck_reason evapi_pgerr_classify_result(const PGresult *res);

#endif
