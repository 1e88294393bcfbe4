/*
 * pgcheck.h - a non-blocking PostgreSQL liveness check on one event loop.
 *
 * One pgcheck owns one persistent libpq connection and runs one check at a
 * time ("SELECT 1" under a deadline that includes name resolution and
 * connection setup). Everything happens on the event_base given to
 * evapi_pgcheck_new, through libpq's asynchronous API and evdns, so the
 * loop never blocks: host names are resolved by evdns and handed to libpq
 * as hostaddr (host is kept for TLS verification and SNI).
 *
 * Not thread-safe: every function must be called on the thread running the
 * base, and the hooks run there too. The functions carry the evapi_ prefix
 * because the static build links them into the evapi binary.
 */
#ifndef EVAPI_READY_PGCHECK_H
#define EVAPI_READY_PGCHECK_H

#include <stddef.h>

struct event_base;

/* Why a check failed: short, fixed strings safe to show to anyone
 * (evapi_pgcheck_reason_str). Never libpq text. */
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

/* Same values as enum evapi_log_level. */
enum pgcheck_log_level {
	PGCHECK_LOG_DEBUG = 0,
	PGCHECK_LOG_INFO = 1,
	PGCHECK_LOG_WARN = 2,
	PGCHECK_LOG_ERROR = 3
};

struct pgcheck_hooks {
	/* A check finished. DETAIL is one line for logs (libpq's message with
	 * the password scrubbed), never for a response body. May be called
	 * from inside evapi_pgcheck_run (when backing off). */
	void (*done)(void *arg, enum pgcheck_reason reason, const char *detail);
	/* The idle connection broke between checks (the server closed it). */
	void (*lost)(void *arg, const char *detail);
	/* One log line: MSG plus one KEY/VALUE pair. */
	void (*log)(void *arg, int level, const char *msg, const char *key,
		    const char *value);
};

struct pgcheck;

/* Parse CONNINFO (URI or key=value) and prepare, without connecting.
 * NULL on error, with a message in ERR that never quotes the input (it
 * may hold a password). */
struct pgcheck *evapi_pgcheck_new(struct event_base *base, const char *conninfo,
				  unsigned timeout_ms,
				  const struct pgcheck_hooks *hooks, void *arg,
				  char *err, size_t errlen);

/* Start one check; hooks->done reports the result exactly once. Returns -1
 * (and does not call done) when a check is already running. */
int evapi_pgcheck_run(struct pgcheck *pc);

/* Cancel any check without calling done, close the connection, free. */
void evapi_pgcheck_free(struct pgcheck *pc);

const char *evapi_pgcheck_reason_str(enum pgcheck_reason reason);

/* "host=... port=... dbname=... user=..." from the parsed options, for
 * logs: built from the parsed fields, so it can never carry the password
 * whatever its spelling in the connection string. */
void evapi_pgcheck_target(const struct pgcheck *pc, char *out, size_t outlen);

#endif /* EVAPI_READY_PGCHECK_H */
