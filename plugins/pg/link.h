/*
 * pgcheck.h - a non-blocking PostgreSQL check on one event loop: one
 * persistent libpq connection, one "SELECT 1" at a time, under a deadline
 * that covers name resolution and connection setup too (pgcheck.c).
 *
 * Everything runs on the evapi loop given to evapi_pgcheck_new, through
 * libpq's asynchronous API and evapi's io watches, timers and resolver,
 * so the loop never blocks. Not thread-safe: call it on that loop only.
 */
#ifndef EVAPI_READY_PGCHECK_H
#define EVAPI_READY_PGCHECK_H

#include <stddef.h>

#include <evapi/plugin.h>

#include "pgerr.h"

struct pgcheck_hooks {
	/* A check finished. DETAIL is one line for logs (libpq's message
	 * with the password scrubbed), never for a response body. May be
	 * called from inside evapi_pgcheck_run (when backing off). */
	void (*done)(void *arg, enum pgcheck_reason reason, const char *detail);
	/* The idle connection broke between checks. */
	void (*lost)(void *arg, const char *detail);
	/* One log line: MSG plus one KEY/VALUE pair (an evapi_log_level). */
	void (*log)(void *arg, int level, const char *msg, const char *key,
		    const char *value);
};

struct pgcheck;

/* Parse CONNINFO and prepare, without connecting. NULL on error, with a
 * message in ERR that never quotes the input. */
struct pgcheck *evapi_pgcheck_new(evapi_loop *loop, const char *conninfo,
				  unsigned timeout_ms,
				  const struct pgcheck_hooks *hooks, void *arg,
				  char *err, size_t errlen);
/* Start one check; hooks->done reports it exactly once. -1 (and no done)
 * when a check is already running. */
int evapi_pgcheck_run(struct pgcheck *pc);
/* Cancel any check without calling done, close the connection, free. */
void evapi_pgcheck_free(struct pgcheck *pc);
/* Where it connects, for logs (pgconf.h). */
void evapi_pgcheck_target(const struct pgcheck *pc, char *out, size_t outlen);

#endif
