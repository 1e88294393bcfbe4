/*
 * pg - PostgreSQL for the other plugins: a non-blocking connection pool on
 * every loop, exported under "pg" (evapi/pg.h), and the migrations of
 * evapi --migrate (exported under "evapi.migrator").
 *
 * Why a plugin that exports a table, and not functions in the core: the
 * core never links libpq, so a server whose plugins do not use the
 * database does not load it (the dynamic build opens pg.so, and libpq
 * with it, only when a plugin in API_PLUGINS lists "pg" in .needs), and
 * the same source works compiled in. A table with a version, as Redis
 * modules get theirs, needs no symbol of pg.so to be visible to the
 * plugins that use it.
 *
 * Sizes: DB_POOL_SIZE connections in all, shared out among the loops (at
 * least one each); DB_QUEUE_MAX waiting queries in all, shared out the
 * same way.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <evapi/pg.h>
#include <evapi/plugin.h>

#include "pool.h"
#include "redact.h"

#define APP_NAME "evapi"
/* Times as RFC 3339 needs them (result.c), whatever the server's
 * defaults. */
#define SESSION "-c TimeZone=UTC -c DateStyle=ISO,YMD"

static struct pg *the_pg; /* one pg plugin per process */

static const struct evapi_setting pg_settings[] = {
	{"DATABASE_URL", EVAPI_SETTING_SECRET, NULL, 1, 4096, NULL,
	 "PostgreSQL connection string: "
	 "postgresql://user:password@host:port/db?sslmode=... or key=value "
	 "pairs; libpq's PG* variables fill in what it leaves out",
	 EVAPI_SETTING_REQUIRED},
	{"DB_POOL_SIZE", EVAPI_SETTING_INT, "8", 1, 1000, NULL,
	 "database connections in all, shared out among the loops (at least "
	 "one each)",
	 0},
	{"DB_PIPELINE_DEPTH", EVAPI_SETTING_INT, "16", 1, 1000, NULL,
	 "queries one connection carries at once when every connection of "
	 "its loop is busy (1: one at a time)",
	 0},
	{"DB_QUEUE_MAX", EVAPI_SETTING_INT, "1024", 0, 1000000, NULL,
	 "queries that may wait for a connection, in all; beyond, 503 at once",
	 0},
	{"DB_QUERY_TIMEOUT_MS", EVAPI_SETTING_INT, "2000", 10, 600000, NULL,
	 "deadline of one query, waiting included, in milliseconds; then 503 "
	 "and the statement is cancelled on the server",
	 0},
	{"DB_CONNECT_TIMEOUT_MS", EVAPI_SETTING_INT, "5000", 100, 600000, NULL,
	 "deadline of one connection attempt, name resolution and TLS "
	 "included, in milliseconds",
	 0},
	EVAPI_SETTINGS_END,
};

/* ---- statements
 * ------------------------------------------------------------------ */

static const evapi_pg_stmt *
pg_prepare(evapi_ctx *ctx, const char *sql)
{
	struct pg *pg = the_pg;
	struct evapi_pg_stmt *st, **grown;

	if (pg == NULL || pg->started || sql == NULL || *sql == '\0') {
		evapi_log(ctx, EVAPI_LOG_ERROR,
			  "evapi_pg_prepare: a statement is prepared in init, "
			  "with SQL",
			  (const char *)0);
		return NULL;
	}
	st = calloc(1, sizeof(*st));
	grown = realloc(pg->stmts, (pg->nstmts + 1) * sizeof(*grown));
	if (st == NULL || grown == NULL || (st->sql = strdup(sql)) == NULL) {
		free(st);
		if (grown != NULL)
			pg->stmts = grown;
		return NULL;
	}
	pg->stmts = grown;
	st->pg = pg;
	snprintf(st->name, sizeof(st->name), "evapi_%zu", pg->nstmts + 1);
	pg->stmts[pg->nstmts++] = st;
	return st;
}

/* ---- queries
 * -------------------------------------------------------------------- */

static struct pg_pool *
pool_of(evapi_loop *loop, const char *who)
{
	struct pg *pg = the_pg;
	unsigned i;

	if (pg == NULL || loop == NULL || loop != evapi_current_loop()) {
		if (pg != NULL)
			evapi_log(pg->ctx, EVAPI_LOG_ERROR, who, "reason",
				  "not on the loop's own thread",
				  (const char *)0);
		return NULL;
	}
	i = evapi_loop_index(loop);
	return i < pg->npools ? &pg->pools[i] : NULL;
}

static int
args_ok(const struct evapi_pg_stmt *st, const char *const *params, int nparams)
{
	return st != NULL && st->pg == the_pg && nparams >= 0 &&
	       nparams <= 65535 && (nparams == 0 || params != NULL);
}

static evapi_pg_handle *
pg_query(evapi_loop *loop, const evapi_pg_stmt *st, const char *const *params,
	 int nparams, unsigned flags, unsigned timeout_ms, evapi_pg_fn fn,
	 void *arg)
{
	struct pg_pool *p = pool_of(loop, "evapi_pg_query");
	struct evapi_pg_query *q;

	if (p == NULL || fn == NULL || !args_ok(st, params, nparams))
		return NULL;
	q = evapi_pg_pool_query(p, st, params, nparams, flags, timeout_ms);
	if (q != NULL) {
		q->fn = fn;
		q->arg = arg;
	}
	return q;
}

static void
pg_cancel(evapi_pg_handle *q)
{
	evapi_pg_pool_cancel(q);
}

/* The client left: the query goes, and the request is answered for the
 * host to drop (the contract wants every request answered). */
static void
request_gone(evapi_request *req, void *arg)
{
	evapi_pg_pool_cancel(arg);
	evapi_respond_empty(req, 503);
}

static int
pg_request(evapi_request *req, const evapi_pg_stmt *st,
	   const char *const *params, int nparams, unsigned flags,
	   evapi_pg_request_fn fn, void *arg)
{
	evapi_loop *loop = evapi_request_loop(req);
	struct pg_pool *p = pool_of(loop, "evapi_pg_request");
	struct evapi_pg_query *q = NULL;

	if (p != NULL && fn != NULL && args_ok(st, params, nparams))
		q = evapi_pg_pool_query(p, st, params, nparams, flags, 0);
	if (q == NULL) {
		evapi_respond_error(req, 500, "internal error");
		return EVAPI_ERR;
	}
	q->rfn = fn;
	q->req = req;
	q->arg = arg;
	evapi_defer(req, request_gone, q);
	return EVAPI_OK;
}

static void
pg_stats(struct evapi_pg_stats *out)
{
	struct pg *pg = the_pg;
	unsigned i;

	memset(out, 0, sizeof(*out));
	if (pg == NULL)
		return;
	for (i = 0; i < pg->npools; i++) {
		const struct pg_counters *n = &pg->pools[i].n;

		/* Each loop has at least one connection: with more loops than
		 * DB_POOL_SIZE, more than it. */
		out->size += pg->pools[i].nlinks;

#define SUM(f) out->f += atomic_load_explicit(&n->f, memory_order_relaxed)
		SUM(open);
		SUM(busy);
		SUM(waiters);
		SUM(queries);
		SUM(errors);
		SUM(timeouts);
		SUM(unavailable);
		SUM(busy_refusals);
#undef SUM
	}
}

static struct evapi_pg_api table;

static void
fill_table(void)
{
	table = evapi_pg_result_table;
	table.major = EVAPI_PG_API_MAJOR;
	table.minor = EVAPI_PG_API_MINOR;
	table.size = sizeof(table);
	table.prepare = pg_prepare;
	table.query = pg_query;
	table.cancel = pg_cancel;
	table.request = pg_request;
	table.stats = pg_stats;
}

/* ---- metrics (served by the metrics plugin when it is loaded) ---------- */

/* One statistic, read at each scrape: ARG is its offset in the struct. */
static double
stat_read(void *arg)
{
	struct evapi_pg_stats st;
	uint64_t v;

	pg_stats(&st);
	memcpy(&v, (const char *)&st + (size_t)(uintptr_t)arg, sizeof(v));
	return (double)v;
}

static int
register_metrics(struct pg *pg)
{
	static const struct {
		int counter;
		const char *name, *help;
		size_t off;
	} m[] = {
#define STAT(c, n, h, f) {c, n, h, offsetof(struct evapi_pg_stats, f)}
		STAT(0, "evapi_db_pool_size", "Database connections the pool "
		     "keeps (DB_POOL_SIZE, at least one per loop).", size),
		STAT(0, "evapi_db_pool_open", "Database connections "
		     "established.", open),
		STAT(0, "evapi_db_pool_busy", "Database connections with a "
		     "query in flight.", busy),
		STAT(0, "evapi_db_pool_waiters", "Queries waiting for a "
		     "database connection.", waiters),
		STAT(1, "evapi_db_queries_total", "Database queries answered, "
		     "whatever the outcome.", queries),
		STAT(1, "evapi_db_query_errors_total", "Database queries the "
		     "server refused (an SQL error).", errors),
		STAT(1, "evapi_db_pool_timeouts_total", "Database queries past "
		     "their deadline (DB_QUERY_TIMEOUT_MS or the caller's).",
		     timeouts),
		STAT(1, "evapi_db_pool_unavailable_total", "Database queries "
		     "failed for want of a connection.", unavailable),
		STAT(1, "evapi_db_pool_refusals_total", "Database queries "
		     "refused at once: every connection busy and the queue "
		     "(DB_QUEUE_MAX) full.", busy_refusals),
#undef STAT
	};
	size_t i;

	for (i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		evapi_metric *fam =
			m[i].counter
				? evapi_counter_new(pg->ctx, m[i].name,
						    m[i].help, NULL)
				: evapi_gauge_new(pg->ctx, m[i].name,
						  m[i].help, NULL);
		evapi_series *s = evapi_series_get(fam, NULL);

		if (s == NULL ||
		    evapi_series_callback(s, stat_read,
					  (void *)(uintptr_t)m[i].off) !=
			    EVAPI_OK)
			return EVAPI_ERR;
	}
	return EVAPI_OK;
}

/* ---- init and fini
 * -------------------------------------------------------------- */

static int
blank(const char *s)
{
	for (; *s; s++)
		if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
			return 0;
	return 1;
}

static int
configure(struct pg *pg, const char *url)
{
	char err[240], shown[512], expected[320];

	if (blank(url)) {
		snprintf(err, sizeof(err), "it is blank");
		goto bad;
	}
	if (evapi_pgconf_parse(&pg->conf, url, APP_NAME, SESSION, err,
			       sizeof(err)) != EVAPI_OK)
		goto bad;
	return EVAPI_OK;
bad:
	evapi_pg_redact(url, shown, sizeof(shown));
	snprintf(expected, sizeof(expected),
		 "a PostgreSQL connection string, e.g. "
		 "postgresql://user:password@host:5432/db (%s)",
		 err);
	evapi_config_error(pg->ctx, "DATABASE_URL", shown, expected);
	return EVAPI_ERR;
}

/* N spread over the loops: loop I's share, at least AT_LEAST. */
static unsigned
share(unsigned n, unsigned loops, unsigned i, unsigned at_least)
{
	unsigned s = n / loops + (i < n % loops ? 1 : 0);

	return s < at_least ? at_least : s;
}

static void pg_fini(void *state);

static int
make_pools(struct pg *pg)
{
	unsigned i, n = evapi_loop_count();

	pg->pools = calloc(n, sizeof(*pg->pools));
	if (pg->pools == NULL)
		return EVAPI_ERR;
	pg->npools = n;
	for (i = 0; i < n; i++)
		if (evapi_pg_pool_init(
			    &pg->pools[i], pg, i, share(pg->pool_size, n, i, 1),
			    share(pg->queue_max, n, i, 0)) != EVAPI_OK)
			return EVAPI_ERR;
	return EVAPI_OK;
}

static void
log_configured(struct pg *pg)
{
	char target[512], size[16], timeout[16];

	/* From the parsed fields, not the string: no redaction rule to get
	 * wrong. */
	evapi_pgconf_target(&pg->conf, target, sizeof(target));
	snprintf(size, sizeof(size), "%u", pg->pool_size);
	snprintf(timeout, sizeof(timeout), "%u", pg->query_timeout_ms);
	evapi_log(pg->ctx, EVAPI_LOG_INFO, "database pool configured",
		  "database", target, "connections", size, "query_timeout_ms",
		  timeout, (const char *)0);
}

static int
pg_init(evapi_ctx *ctx, void **state)
{
	struct pg *pg = calloc(1, sizeof(*pg));

	if (pg == NULL)
		return EVAPI_ERR;
	pg->ctx = ctx;
	pg->pool_size = (unsigned)evapi_setting_int(ctx, "DB_POOL_SIZE");
	pg->depth = (unsigned)evapi_setting_int(ctx, "DB_PIPELINE_DEPTH");
	pg->queue_max = (unsigned)evapi_setting_int(ctx, "DB_QUEUE_MAX");
	pg->query_timeout_ms =
		(unsigned)evapi_setting_int(ctx, "DB_QUERY_TIMEOUT_MS");
	pg->connect_timeout_ms =
		(unsigned)evapi_setting_int(ctx, "DB_CONNECT_TIMEOUT_MS");
	the_pg = pg;
	if (configure(pg, evapi_setting_str(ctx, "DATABASE_URL")) != EVAPI_OK)
		goto fail;
	pg->cancels = evapi_pg_cancel_start();
	fill_table();
	pg->migrator.self = pg;
	pg->migrator.run = evapi_pg_migrate;
	if (pg->cancels == NULL || make_pools(pg) != EVAPI_OK ||
	    register_metrics(pg) != EVAPI_OK ||
	    evapi_export(ctx, "pg", &table) != EVAPI_OK ||
	    evapi_export(ctx, "evapi.migrator", &pg->migrator) != EVAPI_OK)
		goto fail;
	log_configured(pg);
	*state = pg;
	return EVAPI_OK;
fail:
	pg_fini(pg);
	return EVAPI_ERR;
}

static void
pg_fini(void *state)
{
	struct pg *pg = state;
	unsigned i;
	size_t k;

	if (pg == NULL)
		return;
	for (i = 0; pg->pools && i < pg->npools; i++)
		evapi_pg_pool_free(&pg->pools[i]);
	free(pg->pools);
	evapi_pg_cancel_stop(pg->cancels);
	for (k = 0; k < pg->nstmts; k++) {
		free(pg->stmts[k]->sql);
		free(pg->stmts[k]);
	}
	free(pg->stmts);
	evapi_pgconf_free(&pg->conf);
	if (the_pg == pg)
		the_pg = NULL;
	free(pg);
}

EVAPI_PLUGIN(pg) = {
	EVAPI_PLUGIN_HEADER,
	.name = "pg",
	.version = "1.0.0",
	.description = "PostgreSQL for plugins: a non-blocking connection "
		       "pool on every loop, and evapi --migrate",
	.settings = pg_settings,
	.init = pg_init,
	.fini = pg_fini,
};
