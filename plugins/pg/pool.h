/*
 * pool.h - the pg plugin's insides: the plugin state, statements, the
 * per-loop pools, their connections (links) and queries.
 *
 *   pg.c      the plugin: settings, init/fini, the exported table
 *   pool.c    one loop's pool: where a query goes, the wait queue,
 *             deadlines, failures answered on the next turn
 *   link.c    one connection: connect, prepare, send, read results
 *   result.c  results: accessors and PostgreSQL types as JSON
 *   cancel.c  statements cancelled on the server, off the loops
 *   migrate.c evapi --migrate
 *
 * Threads: a pool, its links and its queries belong to one loop and are
 * touched on its thread only; the counters in struct pg_counters are read
 * by any thread (relaxed atomics).
 */
#ifndef EVAPI_PG_POOL_H
#define EVAPI_PG_POOL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include <evapi/pg.h>
#include <evapi/plugin.h>

#include "pgconf.h"
#include "pgerr.h"

#define PG_DETAIL_LEN 256
#define PG_MAX_ADDRS 4 /* addresses tried per host name */

struct pg;
struct pg_pool;
struct pg_link;
struct pg_cancel_queue;

/* A statement every connection prepares. */
struct evapi_pg_stmt {
	struct pg *pg;
	char name[24]; /* "evapi_N" on the server */
	char *sql;
	int failed; /* the server refused it (logged once) */
	char error[PG_DETAIL_LEN];
	char sqlstate[6];
};

enum pg_qstate {
	Q_WAITING,   /* in the pool's wait queue */
	Q_SENT,	     /* in a link's pipeline */
	Q_FAILING,   /* its failure is delivered on the next turn */
	Q_ANSWERING, /* out of every list, its callback about to run */
	Q_DONE
};

/* A query (evapi_pg_query). */
struct evapi_pg_query {
	struct pg_pool *pool;
	const struct evapi_pg_stmt *st; /* NULL: a prepare of PREP */
	const struct evapi_pg_stmt *prep;
	evapi_pg_fn fn;
	evapi_pg_request_fn rfn;
	evapi_request *req;
	void *arg;
	unsigned flags;
	enum pg_qstate state;
	int dropped; /* cancelled or answered: the result is discarded */
	int retried;
	int cancel_sent;
	uint64_t deadline; /* monotonic ms */
	int nparams;
	char **params; /* copies, in one block with the strings */
	struct pg_link *link;
	/* The fail status of Q_FAILING. */
	int fail_status;
	enum pgcheck_reason fail_reason;
	struct evapi_pg_query *prev, *next; /* wait queue, pipeline, failing */
	struct evapi_pg_query *dprev, *dnext; /* every query not yet answered */
	struct evapi_pg_query *xnext;	      /* expired in one deadline pass */
};

/* What a callback reads (evapi_pg_result). */
struct evapi_pg_result {
	const struct pg *pg;
	int status;
	enum pgcheck_reason reason;
	const PGresult *res;
	const char *sqlstate;
	const char *message;
	unsigned retry_after;
	char code[6];
	char msgbuf[PG_DETAIL_LEN];
};

enum pg_lstate {
	L_IDLE,	     /* not started, or closed for good */
	L_BACKOFF,   /* failed; next attempt at next_attempt */
	L_RESOLVING, /* host names being resolved */
	L_CONNECTING,
	L_PREPARING, /* connected; statements being prepared */
	L_READY
};

struct pg_lookup;

/* One connection. */
struct pg_link {
	struct pg_pool *pool;
	unsigned index;
	enum pg_lstate state;
	PGconn *conn;
	evapi_io *io;
	int io_fd;
	int io_events;
	evapi_timer *timer; /* connect deadline, or the backoff */
	struct pg_lookup *lookups;
	int lookups_pending;
	struct evapi_pg_query *head, *tail; /* the pipeline, oldest first */
	unsigned inflight;
	uint64_t head_since; /* when the head became the head */
	int await_sync;	     /* a query's results are in: its sync is next */
	PGresult *head_res;  /* the head's first result */
	int want_flush;	     /* sent since the last flush */
	int flush_pending;   /* libpq holds output the socket did not take */
	evapi_timer *cancel_timer;
	int cancelling; /* no new query until the pipeline empties */
	const struct evapi_pg_query *cancel_target;
	int established_once; /* a lost connection reconnects at once */
	unsigned failures;    /* connection attempts failed in a row */
	enum pgcheck_reason last_reason;
	char notice[PG_DETAIL_LEN];
	char detail[PG_DETAIL_LEN];
};

struct pg_counters {
	atomic_ullong open, busy, waiters, queries, errors, timeouts,
		unavailable, busy_refusals;
};

/* One loop's pool. */
struct pg_pool {
	struct pg *pg;
	evapi_loop *loop;
	unsigned index;
	struct pg_link *links;
	unsigned nlinks;
	unsigned queue_max;
	struct evapi_pg_query *wait_head, *wait_tail;
	unsigned nwait;
	struct evapi_pg_query *failing_head, *failing_tail;
	struct evapi_pg_query *open_head; /* every query not yet answered */
	evapi_timer *deadline;
	uint64_t deadline_at; /* when DEADLINE fires, 0: not armed */
	evapi_timer *soon;    /* flushes and failures, on the next turn */
	int soon_armed;
	evapi_timer *start;
	int stopping;
	enum pgcheck_reason last_reason; /* why no link is up, for failures */
	uint64_t down_until; /* attempts failed, none up: fail at once */
	unsigned downs;	     /* ... that many times in a row (the backoff) */
	uint64_t rng;
	struct pg_counters n;
};

/* The plugin. */
struct pg {
	evapi_ctx *ctx;
	struct pgconf conf;
	unsigned pool_size, queue_max, depth;
	unsigned query_timeout_ms, connect_timeout_ms;
	struct evapi_pg_stmt **stmts;
	size_t nstmts;
	int started; /* statements are fixed from here */
	struct pg_pool *pools;
	unsigned npools;
	struct pg_cancel_queue *cancels;
	struct evapi_migrator migrator;
};

/* ---- pool.c ----------------------------------------------------------------
 */

int evapi_pg_pool_init(struct pg_pool *p, struct pg *pg, unsigned index,
		       unsigned nlinks, unsigned queue_max);
void evapi_pg_pool_free(struct pg_pool *p);
struct evapi_pg_query *evapi_pg_pool_query(struct pg_pool *p,
					   const struct evapi_pg_stmt *st,
					   const char *const *params,
					   int nparams, unsigned flags,
					   unsigned timeout_ms);
void evapi_pg_pool_cancel(struct evapi_pg_query *q);
/* From link.c: a link's state changed (ready, failed, has room). */
void evapi_pg_pool_link_ready(struct pg_pool *p, struct pg_link *l);
/* LOST: an established connection broke (it reconnects at once), not a
 * failed attempt. */
void evapi_pg_pool_link_down(struct pg_pool *p, struct pg_link *l, int lost);
/* From link.c: Q's answer came (RES may be NULL when STATUS is not OK). */
void evapi_pg_pool_answer(struct evapi_pg_query *q, int status,
			  enum pgcheck_reason reason, const PGresult *res);
/* From link.c: a sent query's result was consumed; frees Q (returns 1)
 * when its caller already had an answer. */
int evapi_pg_pool_release(struct evapi_pg_query *q);
/* From link.c: Q must go again (its connection failed before it ran). */
void evapi_pg_pool_requeue(struct evapi_pg_query *q);
void evapi_pg_pool_flush_soon(struct pg_pool *p);
void evapi_pg_pool_log(const struct pg_pool *p, int level, const char *msg,
		       const char *key, const char *value);
uint64_t evapi_pg_mono_ms(void);

/* ---- link.c -----------------------------------------------------------------
 */

int evapi_pg_link_init(struct pg_link *l, struct pg_pool *p, unsigned index);
void evapi_pg_link_free(struct pg_link *l);
/* Start connecting now (IDLE or BACKOFF). */
void evapi_pg_link_start(struct pg_link *l);
/* Send Q on L (READY, room in the pipeline). EVAPI_ERR: L failed (Q is
 * not in it; the pool decides what becomes of Q). */
int evapi_pg_link_send(struct pg_link *l, struct evapi_pg_query *q);
/* Flush what was sent (on the pool's next turn). */
void evapi_pg_link_flush(struct pg_link *l);
/* Q (in L's pipeline) was dropped: cancel it on the server if it runs. */
void evapi_pg_link_dropped(struct pg_link *l, struct evapi_pg_query *q);
/* READY and taking queries. */
int evapi_pg_link_usable(const struct pg_link *l);

/* ---- cancel.c ---------------------------------------------------------------
 */

struct pg_cancel_queue *evapi_pg_cancel_start(void);
/* Take CANCEL (from PQgetCancel) and send it on the cancel thread. */
void evapi_pg_cancel_send(struct pg_cancel_queue *q, PGcancel *cancel);
void evapi_pg_cancel_stop(struct pg_cancel_queue *q);

/* ---- result.c
 * ---------------------------------------------------------------- */

/* The result half of the exported table (pg.c adds the rest). */
extern const struct evapi_pg_api evapi_pg_result_table;
void evapi_pg_result_set(struct evapi_pg_result *r, const struct pg *pg,
			 int status, enum pgcheck_reason reason,
			 const PGresult *res, unsigned retry_after);

/* ---- migrate.c --------------------------------------------------------------
 */

int
evapi_pg_migrate(void *self, const struct evapi_migration_set *sets, size_t n,
		 void (*report)(void *arg, const char *plugin, unsigned version,
				const char *name, int applied),
		 void *arg, char *err, size_t errlen);

#endif
