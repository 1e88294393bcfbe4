/*
 * migrate.c - evapi --migrate: the plugins' numbered SQL migrations,
 * applied once (pool.h, evapi/plugin.h's struct evapi_migrator).
 *
 * A command run, not a server: one blocking libpq connection is fine
 * here. Under a session advisory lock, so that replicas started together
 * apply each migration once: the second waits, then finds them applied.
 * Each migration runs in its own transaction with the row that records
 * it in evapi_migrations, so it is applied and recorded, or neither.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"

#define LOCK_KEY "7310597154617009001" /* "evapi migrations", fixed */
#define EX_DATAERR 65
#define EX_UNAVAILABLE 69
#define EX_SOFTWARE 70

static const char create_table[] =
	"CREATE TABLE IF NOT EXISTS evapi_migrations ("
	" plugin text NOT NULL,"
	" version integer NOT NULL,"
	" name text NOT NULL,"
	" applied_at timestamptz NOT NULL DEFAULT now(),"
	" PRIMARY KEY (plugin, version))";

static void
quiet(void *arg, const char *message)
{
	/* "relation already exists, skipping" and the like: not for stderr. */
	(void)arg;
	(void)message;
}

struct run {
	struct pg *pg;
	PGconn *c;
	char *err;
	size_t errlen;
};

static void
fail_msg(struct run *r, const char *what, const char *msg)
{
	char clean[PG_DETAIL_LEN];

	evapi_pgerr_clean(r->pg->conf.password, clean, sizeof(clean), msg);
	snprintf(r->err, r->errlen, "%s: %s", what, clean);
}

/* One statement; EVAPI_OK when it did what it should. */
static int
exec(struct run *r, const char *sql, int nparams, const char *const *params,
     const char *what)
{
	PGresult *res = nparams ? PQexecParams(r->c, sql, nparams, NULL, params,
					       NULL, NULL, 0)
				: PQexec(r->c, sql);
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ||
		 st == PGRES_EMPTY_QUERY;

	if (!ok) {
		char msg[2 * PG_DETAIL_LEN];
		const char *code =
			res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

		snprintf(msg, sizeof(msg), "%s%s%s", code ? code : "",
			 code ? " " : "",
			 res ? PQresultErrorMessage(res)
			     : PQerrorMessage(r->c));
		fail_msg(r, what, msg);
	}
	PQclear(res);
	return ok ? EVAPI_OK : EVAPI_ERR;
}

static int
applied(struct run *r, const char *plugin, const char *version, int *yes)
{
	const char *params[] = {plugin, version};
	PGresult *res = PQexecParams(r->c,
				     "SELECT 1 FROM evapi_migrations "
				     "WHERE plugin = $1 AND version = $2",
				     2, NULL, params, NULL, NULL, 0);

	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
		fail_msg(r, "cannot read evapi_migrations",
			 res ? PQresultErrorMessage(res)
			     : PQerrorMessage(r->c));
		PQclear(res);
		return EVAPI_ERR;
	}
	*yes = PQntuples(res) > 0;
	PQclear(res);
	return EVAPI_OK;
}

/* Apply M of PLUGIN: 0 (applied now), 1 (already), or an exit status. */
static int
apply_one(struct run *r, const char *plugin, const struct evapi_migration *m)
{
	char version[16], what[300];
	const char *params[3];
	int done = 0;

	snprintf(version, sizeof(version), "%u", m->version);
	if (applied(r, plugin, version, &done) != EVAPI_OK)
		return EX_UNAVAILABLE;
	if (done)
		return 1;
	snprintf(what, sizeof(what), "migration %s %u (%s) failed", plugin,
		 m->version, m->name ? m->name : "");
	params[0] = plugin;
	params[1] = version;
	params[2] = m->name ? m->name : "";
	if (exec(r, "BEGIN", 0, NULL, what) != EVAPI_OK)
		return EX_UNAVAILABLE;
	if (exec(r, m->sql, 0, NULL, what) != EVAPI_OK)
		goto rollback;
	/* A migration that commits or rolls back itself would record its
	 * row outside its own transaction. */
	if (PQtransactionStatus(r->c) != PQTRANS_INTRANS) {
		snprintf(r->err, r->errlen,
			 "%s: it ended its transaction itself (no BEGIN, "
			 "COMMIT or ROLLBACK in a migration)",
			 what);
		goto rollback;
	}
	if (exec(r,
		 "INSERT INTO evapi_migrations (plugin, version, name) "
		 "VALUES ($1, $2, $3)",
		 3, params, what) != EVAPI_OK ||
	    exec(r, "COMMIT", 0, NULL, what) != EVAPI_OK)
		goto rollback;
	return 0;
rollback:
	PQclear(PQexec(r->c, "ROLLBACK"));
	return EX_DATAERR;
}

/* The migrations of SET in order; versions must increase from 1. */
static int
check_set(struct run *r, const struct evapi_migration_set *set)
{
	const struct evapi_migration *m;
	unsigned last = 0;

	for (m = set->migrations; m != NULL && m->sql != NULL; m++) {
		if (m->version <= last) {
			snprintf(r->err, r->errlen,
				 "plugin %s: migration versions must increase "
				 "from 1 (%u after %u)",
				 set->plugin, m->version, last);
			return EX_SOFTWARE;
		}
		last = m->version;
	}
	return 0;
}

/* libpq's blocking connect with the host list as given (libpq resolves
 * the names itself: nothing else runs meanwhile). */
static PGconn *
connect_blocking(struct pg *pg)
{
	const struct pgconf *c = &pg->conf;
	const char **kw = calloc((size_t)c->nopt + 4, sizeof(*kw));
	const char **val = calloc((size_t)c->nopt + 4, sizeof(*val));
	char hosts[4096] = "", ports[1024] = "", timeout[16];
	PGconn *conn = NULL;
	int n = c->nopt, i;

	if (kw == NULL || val == NULL)
		goto out;
	memcpy(kw, c->kw, (size_t)n * sizeof(*kw));
	memcpy(val, c->val, (size_t)n * sizeof(*val));
	if (c->expand_hosts) {
		for (i = 0; i < c->nhosts; i++)
			snprintf(hosts + strlen(hosts),
				 sizeof(hosts) - strlen(hosts), "%s%s",
				 i ? "," : "", c->hosts[i]);
		for (i = 0; i < c->nports; i++)
			snprintf(ports + strlen(ports),
				 sizeof(ports) - strlen(ports), "%s%s",
				 i ? "," : "", c->ports[i]);
		kw[n] = "host";
		val[n++] = hosts;
		if (c->nports > 0) {
			kw[n] = "port";
			val[n++] = ports;
		}
	}
	if (evapi_pgconf_opt(c, "connect_timeout") == NULL) {
		snprintf(timeout, sizeof(timeout), "%u",
			 (pg->connect_timeout_ms + 999) / 1000);
		kw[n] = "connect_timeout";
		val[n++] = timeout;
	}
	conn = PQconnectdbParams(kw, val, 0);
out:
	free((void *)kw);
	free((void *)val);
	return conn;
}

int
evapi_pg_migrate(void *self, const struct evapi_migration_set *sets, size_t n,
		 void (*report)(void *arg, const char *plugin, unsigned version,
				const char *name, int applied),
		 void *arg, char *err, size_t errlen)
{
	struct run r = {self, NULL, err, errlen};
	const struct evapi_migration *m;
	int rc = 0;
	size_t i;

	for (i = 0; i < n; i++)
		if ((rc = check_set(&r, &sets[i])) != 0)
			return rc;
	r.c = connect_blocking(r.pg);
	if (r.c == NULL || PQstatus(r.c) != CONNECTION_OK) {
		const char *msg = r.c ? PQerrorMessage(r.c) : "out of memory";
		char what[128];

		snprintf(what, sizeof(what),
			 "cannot connect to the database (%s)",
			 evapi_pgerr_reason_str(evapi_pgerr_classify(msg, 1)));
		fail_msg(&r, what, msg);
		PQfinish(r.c);
		return EX_UNAVAILABLE;
	}
	PQsetNoticeProcessor(r.c, quiet, NULL);
	if (exec(&r, "SELECT pg_advisory_lock(" LOCK_KEY ")", 0, NULL,
		 "cannot take the migration lock") != EVAPI_OK ||
	    exec(&r, create_table, 0, NULL, "cannot create evapi_migrations") !=
		    EVAPI_OK) {
		rc = EX_UNAVAILABLE;
		goto out;
	}
	for (i = 0; i < n && rc == 0; i++)
		for (m = sets[i].migrations; m && m->sql && rc == 0; m++) {
			int a = apply_one(&r, sets[i].plugin, m);

			if (a > 1)
				rc = a;
			else
				report(arg, sets[i].plugin, m->version,
				       m->name ? m->name : "", a == 0);
		}
out:
	/* The lock ends with the session anyway; say so explicitly. */
	PQclear(PQexec(r.c, "SELECT pg_advisory_unlock_all()"));
	PQfinish(r.c);
	return rc;
}
