/*
 * evapi/pg.h - PostgreSQL for plugins: the connection pool plugins/pg
 * exports to the plugins that need it.
 *
 * A plugin that queries the database lists "pg" in .needs, calls
 * evapi_pg_init(ctx) in its init, prepares its statements there and runs
 * them from its handlers:
 *
 *     static const char *const items_needs[] = {"pg", NULL};
 *     static const evapi_pg_stmt *get_item;
 *
 *     static int items_init(evapi_ctx *ctx, void **state)
 *     {
 *             if (evapi_pg_init(ctx) != EVAPI_OK)
 *                     return EVAPI_ERR;
 *             get_item = evapi_pg_prepare(ctx,
 *                     "SELECT id, name FROM items WHERE id = $1");
 *             return get_item ? EVAPI_OK : EVAPI_ERR;
 *     }
 *
 *     static void item_got(evapi_request *req, const evapi_pg_result *res,
 *                          void *arg)
 *     {
 *             struct json_object *row;
 *
 *             if (evapi_pg_failed(req, res))
 *                     return;          (answered: 503 or 500)
 *             if (evapi_pg_nrows(res) == 0) {
 *                     evapi_respond_error(req, 404, "no such item");
 *                     return;
 *             }
 *             row = evapi_pg_row_json(res, 0);
 *             evapi_respond_json(req, 200, row);
 *             json_object_put(row);
 *     }
 *
 *     static void item_get(evapi_request *req, void *state)
 *     {
 *             const char *id = evapi_request_param(req, "id");
 *
 *             evapi_pg_request(req, get_item, &id, 1, EVAPI_PG_RETRY,
 *                              item_got, NULL);
 *     }
 *
 * What the pool guarantees
 *   - No loop ever blocks: every loop has its own connections, driven by
 *     libpq's non-blocking API on that loop. A query runs on the loop of
 *     the handler that made it and its callback runs there.
 *   - Parameters are always bound ($1 ... $N), never spliced into SQL;
 *     statements are prepared once per connection.
 *   - A connection carries several queries at once (libpq's pipeline
 *     mode) when every connection of the loop is busy, up to
 *     DB_PIPELINE_DEPTH; beyond that queries wait in a queue of at most
 *     DB_QUEUE_MAX, and past it fail at once with EVAPI_PG_BUSY.
 *   - Every query has a deadline (DB_QUERY_TIMEOUT_MS): the callback then
 *     gets EVAPI_PG_TIMEOUT and the statement is cancelled on the server.
 *     A statement that timed out may still have run (as with any client).
 *   - Each statement is its own transaction (no BEGIN/COMMIT across
 *     calls): write a change that must be atomic as one statement (a CTE,
 *     a function).
 *   - Results are text, readable by row and column, and as JSON with
 *     PostgreSQL's types mapped (see evapi_pg_value_json).
 *
 * Versioning: EVAPI_PG_API_MAJOR changes when a function's meaning
 * changes; MINOR when functions are added at the end of the table.
 * evapi_pg_init refuses an exporter of another major or an older minor.
 */
#ifndef EVAPI_PG_H
#define EVAPI_PG_H

#include <stdint.h>

#include <evapi/plugin.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EVAPI_PG_API_MAJOR 1
#define EVAPI_PG_API_MINOR 0

typedef struct evapi_pg_stmt evapi_pg_stmt;
typedef struct evapi_pg_result evapi_pg_result;
typedef struct evapi_pg_query evapi_pg_handle; /* a query in flight */

/* What became of a query. */
enum evapi_pg_status {
	EVAPI_PG_OK = 0,      /* done: rows (maybe none) or a command */
	EVAPI_PG_ERROR,	      /* the server refused it: see sqlstate */
	EVAPI_PG_TIMEOUT,     /* no answer within its deadline */
	EVAPI_PG_UNAVAILABLE, /* no connection to the database (reason) */
	EVAPI_PG_BUSY	      /* every connection and the queue are full */
};

/* Query flags. */
/* Safe to run twice (a read, an idempotent write): when its connection
 * fails before the answer, it runs once more on another connection. */
#define EVAPI_PG_RETRY 0x01u

typedef void (*evapi_pg_fn)(const evapi_pg_result *res, void *arg);
typedef void (*evapi_pg_request_fn)(evapi_request *req,
				    const evapi_pg_result *res, void *arg);

/* The pool, summed over every loop. */
struct evapi_pg_stats {
	uint64_t size;		/* connections configured */
	uint64_t open;		/* connections established */
	uint64_t busy;		/* connections with a query in flight */
	uint64_t waiters;	/* queries queued for a connection */
	uint64_t queries;	/* queries answered, all outcomes */
	uint64_t errors;	/* ... of them refused by the server */
	uint64_t timeouts;	/* ... past their deadline */
	uint64_t unavailable;	/* ... failed for want of a connection */
	uint64_t busy_refusals; /* ... refused at once, pool and queue full */
};

/* The table plugins/pg exports under the name "pg". Use the functions
 * below rather than the table. */
struct evapi_pg_api {
	uint16_t major, minor;
	uint32_t size;
	const evapi_pg_stmt *(*prepare)(evapi_ctx *ctx, const char *sql);
	evapi_pg_handle *(*query)(evapi_loop *loop, const evapi_pg_stmt *st,
				  const char *const *params, int nparams,
				  unsigned flags, unsigned timeout_ms,
				  evapi_pg_fn fn, void *arg);
	void (*cancel)(evapi_pg_handle *q);
	int (*request)(evapi_request *req, const evapi_pg_stmt *st,
		       const char *const *params, int nparams, unsigned flags,
		       evapi_pg_request_fn fn, void *arg);
	int (*failed)(evapi_request *req, const evapi_pg_result *res);
	int (*status)(const evapi_pg_result *res);
	const char *(*reason)(const evapi_pg_result *res);
	const char *(*sqlstate)(const evapi_pg_result *res);
	const char *(*message)(const evapi_pg_result *res);
	int (*nrows)(const evapi_pg_result *res);
	int (*ncols)(const evapi_pg_result *res);
	const char *(*column)(const evapi_pg_result *res, int col);
	int (*isnull)(const evapi_pg_result *res, int row, int col);
	const char *(*text)(const evapi_pg_result *res, int row, int col);
	int (*int64)(const evapi_pg_result *res, int row, int col,
		     long long *out);
	struct json_object *(*value_json)(const evapi_pg_result *res, int row,
					  int col);
	struct json_object *(*row_json)(const evapi_pg_result *res, int row);
	long long (*affected)(const evapi_pg_result *res);
	void (*stats)(struct evapi_pg_stats *out);
	unsigned (*retry_after)(const evapi_pg_result *res);
	const char *const *(*reasons)(void);
	void *reserved[8];
};

/* One table per translation unit, filled by evapi_pg_init (like
 * redismodule.h's function pointers). */
static const struct evapi_pg_api *evapi_pg_api_;

/* The oldest table this header works with (a function: comparing with
 * the constant 0 would be "always false" to the compiler). */
static inline unsigned
evapi_pg_minor_needed_(void)
{
	return EVAPI_PG_API_MINOR;
}

/* In init: bind this file to plugins/pg (listed in .needs). EVAPI_ERR,
 * logged, when it is missing or of an incompatible version. */
static inline int
evapi_pg_init(evapi_ctx *ctx)
{
	const struct evapi_pg_api *api =
		(const struct evapi_pg_api *)evapi_import(ctx, "pg");

	if (api == NULL) {
		evapi_log(ctx, EVAPI_LOG_ERROR,
			  "the pg plugin is not loaded: list \"pg\" in .needs",
			  (const char *)0);
		return EVAPI_ERR;
	}
	if (api->major != EVAPI_PG_API_MAJOR ||
	    api->minor < evapi_pg_minor_needed_()) {
		evapi_log(ctx, EVAPI_LOG_ERROR,
			  "the pg plugin's API is not the one this plugin "
			  "was built for: rebuild it against this evapi's "
			  "<evapi/pg.h>",
			  (const char *)0);
		return EVAPI_ERR;
	}
	evapi_pg_api_ = api;
	return EVAPI_OK;
}

/* ---- during init ----------------------------------------------------------
 */

/* A statement, SQL with $1 ... $N, prepared on every connection. NULL
 * (logged) when SQL is empty or memory ran out; the server checks the
 * SQL itself when a connection prepares it (a bad statement is logged
 * and its queries fail with EVAPI_PG_ERROR). */
static inline const evapi_pg_stmt *
evapi_pg_prepare(evapi_ctx *ctx, const char *sql)
{
	return evapi_pg_api_->prepare(ctx, sql);
}

/* ---- queries (on a loop's thread)
 * --------------------------------------------- */

/* Run ST with PARAMS (text, NULL for SQL NULL; copied) on LOOP, the
 * calling thread's loop. FN(res, ARG) runs once on LOOP, always later
 * (never inside this call), with the outcome: a pool that is full or
 * down answers on the next turn of the loop. TIMEOUT_MS 0:
 * DB_QUERY_TIMEOUT_MS. Returns a handle for evapi_pg_cancel, or NULL
 * (logged: not LOOP's thread, a bad statement or parameter count, no
 * memory), and then FN never runs. */
static inline evapi_pg_handle *
evapi_pg_query(evapi_loop *loop, const evapi_pg_stmt *st,
	       const char *const *params, int nparams, unsigned flags,
	       unsigned timeout_ms, evapi_pg_fn fn, void *arg)
{
	return evapi_pg_api_->query(loop, st, params, nparams, flags,
				    timeout_ms, fn, arg);
}

/* FN never runs; a statement already sent is cancelled on the server. */
static inline void
evapi_pg_cancel(evapi_pg_handle *q)
{
	evapi_pg_api_->cancel(q);
}

/* The usual case, for a handler: run ST for REQ and answer later from FN
 * (which must answer REQ, whatever the outcome: evapi_pg_failed does it
 * for failures). The request is deferred; if its client leaves first,
 * the query is cancelled and FN never runs. EVAPI_ERR when the query
 * could not start (as evapi_pg_query's NULL): REQ was answered, 500. */
static inline int
evapi_pg_request(evapi_request *req, const evapi_pg_stmt *st,
		 const char *const *params, int nparams, unsigned flags,
		 evapi_pg_request_fn fn, void *arg)
{
	return evapi_pg_api_->request(req, st, params, nparams, flags, fn, arg);
}

/* When RES is not EVAPI_PG_OK: answer REQ (503 {"error":"database
 * unavailable"} with Retry-After for TIMEOUT, UNAVAILABLE and BUSY; 500
 * for a server error, logged with its SQLSTATE) and return 1. 0 when OK.
 * Check evapi_pg_sqlstate first for errors you answer yourself (a unique
 * violation, 23505, as 409). */
static inline int
evapi_pg_failed(evapi_request *req, const evapi_pg_result *res)
{
	return evapi_pg_api_->failed(req, res);
}

/* ---- results (valid during the callback only)
 * --------------------------------- */

static inline int
evapi_pg_status(const evapi_pg_result *res)
{
	return evapi_pg_api_->status(res);
}

/* Why it failed, safe to show anyone: "timeout", "connection refused",
 * "authentication failed", "query failed", ...; "ok" when it did not. */
static inline const char *
evapi_pg_reason(const evapi_pg_result *res)
{
	return evapi_pg_api_->reason(res);
}

/* EVAPI_PG_ERROR: the five-character SQLSTATE ("23505") and the server's
 * message (for logs; the DATABASE_URL password is scrubbed). "" else. */
static inline const char *
evapi_pg_sqlstate(const evapi_pg_result *res)
{
	return evapi_pg_api_->sqlstate(res);
}

static inline const char *
evapi_pg_message(const evapi_pg_result *res)
{
	return evapi_pg_api_->message(res);
}

static inline int
evapi_pg_nrows(const evapi_pg_result *res)
{
	return evapi_pg_api_->nrows(res);
}

static inline int
evapi_pg_ncols(const evapi_pg_result *res)
{
	return evapi_pg_api_->ncols(res);
}

/* A column's name, NULL past the end. */
static inline const char *
evapi_pg_column(const evapi_pg_result *res, int col)
{
	return evapi_pg_api_->column(res, col);
}

static inline int
evapi_pg_isnull(const evapi_pg_result *res, int row, int col)
{
	return evapi_pg_api_->isnull(res, row, col);
}

/* The value as PostgreSQL's text ("" for NULL; NULL past the end). */
static inline const char *
evapi_pg_text(const evapi_pg_result *res, int row, int col)
{
	return evapi_pg_api_->text(res, row, col);
}

/* An integer column: EVAPI_OK and *OUT, or EVAPI_ERR (NULL, not an
 * integer, out of range). */
static inline int
evapi_pg_int64(const evapi_pg_result *res, int row, int col, long long *out)
{
	return evapi_pg_api_->int64(res, row, col, out);
}

/* A value as JSON (a new reference, the caller puts it): NULL is null;
 * int2/int4/int8 and oid are integers; float4/float8 numbers; numeric a
 * string (exact); bool true/false; json and jsonb parsed; timestamptz an
 * RFC 3339 string in UTC ("2026-12-06T10:30:00.123456Z"); timestamp,
 * date and time ISO 8601 strings; arrays of these arrays; anything else
 * (text, uuid, ...) its text. NULL only when memory ran out. */
static inline struct json_object *
evapi_pg_value_json(const evapi_pg_result *res, int row, int col)
{
	return evapi_pg_api_->value_json(res, row, col);
}

/* Row ROW as a JSON object: column name -> evapi_pg_value_json. */
static inline struct json_object *
evapi_pg_row_json(const evapi_pg_result *res, int row)
{
	return evapi_pg_api_->row_json(res, row);
}

/* Rows a command changed (UPDATE, DELETE, INSERT), -1 when unknown. */
static inline long long
evapi_pg_affected(const evapi_pg_result *res)
{
	return evapi_pg_api_->affected(res);
}

/* Every reason evapi_pg_reason can give, NULL-ended (to build answers at
 * init). */
static inline const char *const *
evapi_pg_reasons(void)
{
	return evapi_pg_api_->reasons();
}

/* Seconds a client should wait before retrying after this failure. */
static inline unsigned
evapi_pg_retry_after(const evapi_pg_result *res)
{
	return evapi_pg_api_->retry_after(res);
}

/* ---- the pool
 * --------------------------------------------------------------------- */

static inline void
evapi_pg_stats(struct evapi_pg_stats *out)
{
	evapi_pg_api_->stats(out);
}

#ifdef __cplusplus
}
#endif

#endif /* EVAPI_PG_H */
