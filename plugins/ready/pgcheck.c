/*
 * pgcheck.c - a non-blocking PostgreSQL check on one event loop
 * (pgcheck.h).
 *
 * State machine (one check at a time; pc->conn may outlive a check):
 *
 *   IDLE --run--> QUERYING            (an established connection exists)
 *   IDLE --run--> RESOLVING           (a host name needs resolving)
 *   IDLE --run--> CONNECTING          (only addresses or unix sockets)
 *   IDLE --run--> IDLE, done(last failure)   (backing off: answer at once)
 *   RESOLVING --all lookups answered--> CONNECTING
 *   CONNECTING --PQconnectPoll OK--> QUERYING
 *   QUERYING --"SELECT 1" answered--> IDLE, done(OK), watch the idle socket
 *   QUERYING --failed on a reused connection--> RESOLVING/CONNECTING
 *                                     (once, within the same deadline)
 *   any --failure or deadline--> IDLE, done(reason), connection closed
 *
 * The deadline (timeout_ms) is armed when a check starts and covers
 * resolution, connection setup and the query. Connection attempts that
 * fail back off exponentially; while backing off a check answers at once
 * with the last failure. A failure of an existing connection does not
 * back off: the next attempt is immediate.
 *
 * Blocking calls avoided on purpose: PQconnectdb, PQexec, PQping, PQcancel
 * (it connects synchronously), getaddrinfo on a host name (libpq calls it
 * when only host is given: evapi_resolve finds the addresses and libpq
 * gets them as hostaddr), GSSAPI credential lookups (gssencmode=disable
 * unless configured), and a blocking flush in PQfinish (the connection is
 * non-blocking once established).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "pgcheck.h"
#include "pgconf.h"
#include "pgerr.h"

#define PGC_MAX_ADDRS 4 /* addresses tried per host name */
#define PGC_BACKOFF_MIN_MS 250
#define PGC_BACKOFF_MAX_MS 2000
#define PGC_QUERY "SELECT 1"
#define PGC_APP_NAME "evapi-ready"
#define PGC_DETAIL_LEN 256

enum pgc_state { PGC_IDLE, PGC_RESOLVING, PGC_CONNECTING, PGC_QUERYING };

struct pgc_resolve;

/* One lookup for one host name of the list. */
struct pgc_lookup {
	struct pgc_resolve *rs;
	int host; /* index into conf.hosts */
	int done;
	int err;
	int n;
	char addr[PGC_MAX_ADDRS][48];
	evapi_lookup *req;
};

/* The lookups of one connection attempt. */
struct pgc_resolve {
	struct pgcheck *pc;
	int pending;
	int n;
	struct pgc_lookup lk[PGCONF_MAX_HOSTS];
};

/* A growable comma-separated list. */
struct pgc_list {
	char *s;
	size_t len, cap;
	int n;
	int failed;
};

struct pgcheck {
	evapi_loop *loop;
	struct pgconf conf;
	struct pgcheck_hooks hooks;
	void *arg;
	unsigned timeout_ms;

	enum pgc_state state;
	PGconn *conn;  /* when IDLE: an established, idle connection */
	int attempt;   /* this check is opening a new connection */
	int reused;    /* this check started on an existing connection */
	evapi_io *io;  /* the one socket watch, if any */
	int io_fd;
	void (*io_cb)(struct pgcheck *pc, int events);
	evapi_timer *deadline;
	struct pgc_resolve *rs;
	unsigned attempt_failures;
	uint64_t next_attempt_ms;
	uint64_t rng;
	enum pgcheck_reason last_reason;
	enum pgcheck_reason query_reason; /* first error result of the query */
	char query_msg[PGC_DETAIL_LEN];
	char notice[PGC_DETAIL_LEN]; /* last server notice, scrubbed */
	char detail[PGC_DETAIL_LEN];
};

static void pgc_start_connect(struct pgcheck *pc);
static void pgc_send_query(struct pgcheck *pc);
static void pgc_watch_idle(struct pgcheck *pc);

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void
pgc_log(struct pgcheck *pc, int level, const char *msg, const char *key,
	const char *value)
{
	if (pc->hooks.log)
		pc->hooks.log(pc->arg, level, msg, key, value);
}

static void
pgc_clean(const struct pgcheck *pc, char *out, size_t outlen, const char *msg)
{
	evapi_pgerr_clean(pc->conf.password, out, outlen, msg);
}

static void
pgc_notice(void *arg, const char *message)
{
	struct pgcheck *pc = arg;

	/* Never let libpq print to stderr; keep the text for the next log. */
	pgc_clean(pc, pc->notice, sizeof(pc->notice), message);
	pgc_log(pc, EVAPI_LOG_DEBUG, "database notice", "detail", pc->notice);
}

/* ---- lists ----------------------------------------------------------------- */

static void
list_add(struct pgc_list *l, const char *item)
{
	size_t n = strlen(item);

	if (l->failed)
		return;
	if (l->len + n + 2 > l->cap) {
		size_t cap = (l->len + n + 2) * 2;
		char *s = realloc(l->s, cap);

		if (!s) {
			l->failed = 1;
			return;
		}
		l->s = s;
		l->cap = cap;
	}
	if (l->n++ > 0)
		l->s[l->len++] = ',';
	memcpy(l->s + l->len, item, n);
	l->len += n;
	l->s[l->len] = '\0';
}

/* ---- the socket ------------------------------------------------------------ */

static void
pgc_io_free(struct pgcheck *pc)
{
	evapi_io_free(pc->io);
	pc->io = NULL;
	pc->io_fd = -1;
}

static void
on_io(evapi_io *io, int events, void *arg)
{
	struct pgcheck *pc = arg;

	(void)io;
	pc->io_cb(pc, events);
}

/* Wait once for EVENTS on the connection's current socket (libpq may
 * switch sockets while it tries hosts and addresses: never cached). */
static int
pgc_arm(struct pgcheck *pc, int events, void (*cb)(struct pgcheck *, int))
{
	int fd = PQsocket(pc->conn);

	if (fd < 0)
		return -1;
	if (pc->io == NULL || pc->io_fd != fd) {
		pgc_io_free(pc);
		pc->io = evapi_io_new(pc->loop, fd, on_io, pc);
		if (pc->io == NULL)
			return -1;
		pc->io_fd = fd;
	}
	pc->io_cb = cb;
	return evapi_io_want(pc->io, events, 0) == EVAPI_OK ? 0 : -1;
}

static void
pgc_drop_conn(struct pgcheck *pc)
{
	pgc_io_free(pc);
	if (pc->conn) {
		PQfinish(pc->conn);
		pc->conn = NULL;
	}
}

static void
pgc_cancel_resolve(struct pgcheck *pc)
{
	struct pgc_resolve *rs = pc->rs;
	int i;

	if (!rs)
		return;
	pc->rs = NULL;
	for (i = 0; i < rs->n; i++)
		if (!rs->lk[i].done && rs->lk[i].req)
			evapi_lookup_cancel(rs->lk[i].req);
	free(rs);
}

/* xorshift64*: jitter needs no more. */
static uint64_t
pgc_random(struct pgcheck *pc)
{
	uint64_t x = pc->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	pc->rng = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static unsigned
backoff_ms(struct pgcheck *pc, unsigned failures)
{
	unsigned ms = PGC_BACKOFF_MIN_MS;

	while (--failures > 0 && ms < PGC_BACKOFF_MAX_MS)
		ms *= 2;
	if (ms > PGC_BACKOFF_MAX_MS)
		ms = PGC_BACKOFF_MAX_MS;
	/* +-20% jitter so that replicas do not reconnect in lockstep after a
	 * database restart. */
	return ms - ms / 5 + (unsigned)(pgc_random(pc) % (2 * (ms / 5) + 1));
}

/* End the running check with REASON; MSG is the raw detail (may be NULL). */
static void
pgc_finish(struct pgcheck *pc, enum pgcheck_reason reason, const char *msg)
{
	evapi_timer_stop(pc->deadline);
	pgc_clean(pc, pc->detail, sizeof(pc->detail), msg);
	if (reason == PGCHECK_OK) {
		pc->attempt_failures = 0;
		pc->next_attempt_ms = 0;
		pc->state = PGC_IDLE;
		pgc_watch_idle(pc);
	} else {
		pgc_cancel_resolve(pc);
		pgc_drop_conn(pc);
		if (pc->attempt) {
			pc->attempt_failures++;
			pc->next_attempt_ms =
				mono_ms() + backoff_ms(pc, pc->attempt_failures);
		} else {
			/* An existing connection failed (timeout): retry at
			 * the next check without waiting. */
			pc->next_attempt_ms = 0;
		}
		pc->last_reason = reason;
		pc->state = PGC_IDLE;
	}
	pc->hooks.done(pc->arg, reason, pc->detail);
}

/* ---- the idle connection ----------------------------------------------------- */

static void
pgc_idle_cb(struct pgcheck *pc, int events)
{
	PGnotify *n;
	int alive;

	(void)events;
	/* Readable while idle: a notice, a FATAL before the server closes the
	 * connection (shutdown, admin kill), or EOF. PQisBusy parses what
	 * came (notices go to pgc_notice). */
	alive = PQconsumeInput(pc->conn);
	if (alive) {
		(void)PQisBusy(pc->conn);
		alive = PQstatus(pc->conn) == CONNECTION_OK;
	}
	if (!alive) {
		char msg[2 * PGC_DETAIL_LEN];

		snprintf(msg, sizeof(msg), "%s %s", pc->notice,
			 PQerrorMessage(pc->conn));
		pgc_clean(pc, pc->detail, sizeof(pc->detail), msg);
		pgc_drop_conn(pc);
		pc->attempt_failures = 0;
		pc->next_attempt_ms = 0;
		pc->last_reason = PGCHECK_LOST;
		if (pc->hooks.lost)
			pc->hooks.lost(pc->arg, pc->detail);
		return;
	}
	while ((n = PQnotifies(pc->conn)) != NULL)
		PQfreemem(n);
	pgc_watch_idle(pc);
}

static void
pgc_watch_idle(struct pgcheck *pc)
{
	if (pc->conn && pgc_arm(pc, EVAPI_IO_READ, pgc_idle_cb) < 0)
		pgc_drop_conn(pc);
}

/* ---- the query ------------------------------------------------------------------ */

static void
pgc_query_failed(struct pgcheck *pc, enum pgcheck_reason reason,
		 const char *msg)
{
	if (pc->reused && !pc->attempt && reason != PGCHECK_TIMEOUT) {
		/* A connection idle since the last check went stale (server
		 * restart, failover): one fresh attempt within this deadline
		 * instead of a spurious 503. */
		pgc_clean(pc, pc->detail, sizeof(pc->detail), msg);
		pgc_log(pc, EVAPI_LOG_DEBUG,
			"database connection failed; reconnecting", "detail",
			pc->detail);
		pgc_drop_conn(pc);
		pgc_start_connect(pc);
		return;
	}
	pgc_finish(pc, reason, msg);
}

static void
pgc_failed_io(struct pgcheck *pc)
{
	const char *msg = PQerrorMessage(pc->conn);

	pgc_query_failed(pc, evapi_pgerr_classify(msg, 0), msg);
}

static void
pgc_read_cb(struct pgcheck *pc, int events)
{
	(void)events;
	if (!PQconsumeInput(pc->conn)) {
		pgc_failed_io(pc);
		return;
	}
	while (!PQisBusy(pc->conn)) {
		PGresult *res = PQgetResult(pc->conn);

		if (!res) {
			/* Every result read; the connection is idle again. */
			if (pc->query_reason != PGCHECK_OK)
				pgc_query_failed(pc, pc->query_reason,
						 pc->query_msg);
			else if (PQstatus(pc->conn) != CONNECTION_OK)
				pgc_query_failed(pc, PGCHECK_LOST,
						 PQerrorMessage(pc->conn));
			else
				pgc_finish(pc, PGCHECK_OK, NULL);
			return;
		}
		if (PQresultStatus(res) != PGRES_TUPLES_OK &&
		    pc->query_reason == PGCHECK_OK) {
			pc->query_reason = evapi_pgerr_classify_result(res);
			pgc_clean(pc, pc->query_msg, sizeof(pc->query_msg),
				  PQresultErrorMessage(res));
		}
		PQclear(res);
	}
	if (pgc_arm(pc, EVAPI_IO_READ, pgc_read_cb) < 0)
		pgc_query_failed(pc, PGCHECK_LOST, "lost the socket");
}

static void pgc_flush(struct pgcheck *pc);

static void
pgc_flush_cb(struct pgcheck *pc, int events)
{
	/* libpq: while a flush is pending, read input too, or a server that
	 * is itself blocked on writing to us could deadlock. */
	if ((events & EVAPI_IO_READ) && !PQconsumeInput(pc->conn)) {
		pgc_failed_io(pc);
		return;
	}
	pgc_flush(pc);
}

static void
pgc_flush(struct pgcheck *pc)
{
	int r = PQflush(pc->conn);
	int armed;

	if (r < 0) {
		pgc_failed_io(pc);
		return;
	}
	if (r > 0)
		armed = pgc_arm(pc, EVAPI_IO_READ | EVAPI_IO_WRITE,
				pgc_flush_cb);
	else
		armed = pgc_arm(pc, EVAPI_IO_READ, pgc_read_cb);
	if (armed < 0)
		pgc_query_failed(pc, PGCHECK_LOST, "lost the socket");
}

static void
pgc_send_query(struct pgcheck *pc)
{
	pc->state = PGC_QUERYING;
	pc->query_reason = PGCHECK_OK;
	pc->query_msg[0] = '\0';
	if (!PQsendQuery(pc->conn, PGC_QUERY)) {
		pgc_failed_io(pc);
		return;
	}
	pgc_flush(pc);
}

/* ---- connecting ------------------------------------------------------------------ */

static void
pgc_connect_cb(struct pgcheck *pc, int events)
{
	int armed = 0;

	(void)events;
	switch (PQconnectPoll(pc->conn)) {
	case PGRES_POLLING_READING:
		armed = pgc_arm(pc, EVAPI_IO_READ, pgc_connect_cb);
		break;
	case PGRES_POLLING_WRITING:
		armed = pgc_arm(pc, EVAPI_IO_WRITE, pgc_connect_cb);
		break;
	case PGRES_POLLING_OK:
		pgc_io_free(pc);
		/* Non-blocking from now on: PQflush and PQfinish's Terminate
		 * message must never wait for the socket. */
		if (PQsetnonblocking(pc->conn, 1) != 0) {
			pgc_finish(pc, PGCHECK_INTERNAL,
				   PQerrorMessage(pc->conn));
			return;
		}
		pgc_log(pc, EVAPI_LOG_INFO, "database connection established",
			"host",
			PQhost(pc->conn) && *PQhost(pc->conn) ? PQhost(pc->conn)
							      : "default");
		pgc_send_query(pc);
		return;
	default: {
		const char *msg = PQerrorMessage(pc->conn);

		pgc_finish(pc, evapi_pgerr_classify(msg, 1), msg);
		return;
	}
	}
	if (armed < 0)
		pgc_finish(pc, PGCHECK_INTERNAL, "cannot watch the socket");
}

static void
add_target(struct pgc_list *h, struct pgc_list *a, struct pgc_list *p,
	   const char *host, const char *addr, const char *port)
{
	list_add(h, host);
	list_add(a, addr);
	if (port)
		list_add(p, port);
}

static enum pgcheck_reason
lookup_reason(int err)
{
	return err == EVAPI_LOOKUP_NOT_FOUND ? PGCHECK_HOST_NOT_FOUND
					     : PGCHECK_DNS_ERROR;
}

/* The host, hostaddr and port lists of one attempt: every name replaced by
 * its addresses. 0 when none is left (DNS_ERR says why). */
static int
pgc_targets(struct pgcheck *pc, const struct pgc_resolve *rs,
	    struct pgc_list *h, struct pgc_list *a, struct pgc_list *p,
	    int *dns_err)
{
	const struct pgconf *c = &pc->conf;
	int i, j, k;

	for (i = 0; i < c->nhosts; i++) {
		const char *port = c->nports > 1 ? c->ports[i] : NULL;
		const struct pgc_lookup *lk = NULL;

		switch (c->htype[i]) {
		case PGCONF_HOST_NAME:
			for (j = 0; rs && j < rs->n; j++)
				if (rs->lk[j].host == i)
					lk = &rs->lk[j];
			if (!lk || lk->err || lk->n == 0) {
				if (!*dns_err)
					*dns_err = lk && lk->err
							   ? lk->err
							   : EVAPI_LOOKUP_FAILED;
				break;
			}
			for (k = 0; k < lk->n; k++)
				add_target(h, a, p, c->hosts[i], lk->addr[k],
					   port);
			break;
		case PGCONF_HOST_NUMERIC:
			add_target(h, a, p, c->hosts[i], c->hosts[i], port);
			break;
		default:
			add_target(h, a, p, c->hosts[i], "", port);
			break;
		}
	}
	return h->n;
}

/* Start libpq's connection with every host name replaced by addresses. */
static void
pgc_connect(struct pgcheck *pc, const struct pgc_resolve *rs)
{
	struct pgc_list h = {0}, a = {0}, p = {0};
	struct pgconf *c = &pc->conf;
	const char **kw = c->kw, **val = c->val;
	int n = c->nopt, dns_err = 0;

	if (c->expand_hosts) {
		if (!pgc_targets(pc, rs, &h, &a, &p, &dns_err)) {
			pgc_finish(pc, lookup_reason(dns_err),
				   evapi_lookup_error(dns_err));
			goto out;
		}
		if (h.failed || a.failed || p.failed) {
			pgc_finish(pc, PGCHECK_INTERNAL, "out of memory");
			goto out;
		}
		kw[n] = "host";
		val[n++] = h.s;
		kw[n] = "hostaddr";
		val[n++] = a.s;
		if (c->nports == 1) {
			kw[n] = "port";
			val[n++] = c->ports[0];
		} else if (c->nports > 1) {
			kw[n] = "port";
			val[n++] = p.s;
		}
	}
	kw[n] = NULL;
	val[n] = NULL;
	pc->state = PGC_CONNECTING;
	pc->notice[0] = '\0';
	pc->conn = PQconnectStartParams(kw, val, 0);
	if (!pc->conn) {
		pgc_finish(pc, PGCHECK_INTERNAL, "out of memory");
		goto out;
	}
	PQsetNoticeProcessor(pc->conn, pgc_notice, pc);
	if (PQstatus(pc->conn) == CONNECTION_BAD) {
		const char *msg = PQerrorMessage(pc->conn);

		pgc_finish(pc, evapi_pgerr_classify(msg, 1), msg);
		goto out;
	}
	/* libpq: start as if PQconnectPoll had returned WRITING. */
	if (pgc_arm(pc, EVAPI_IO_WRITE, pgc_connect_cb) < 0)
		pgc_finish(pc, PGCHECK_INTERNAL, "cannot watch the socket");
out:
	/* libpq copied the parameters. */
	free(h.s);
	free(a.s);
	free(p.s);
}

static void
pgc_resolved(int err, const char *const *addrs, int naddrs, void *arg)
{
	struct pgc_lookup *lk = arg;
	struct pgc_resolve *rs = lk->rs;
	struct pgcheck *pc = rs->pc;
	int i;

	lk->done = 1;
	lk->req = NULL;
	lk->err = err;
	for (i = 0; i < naddrs && lk->n < PGC_MAX_ADDRS; i++)
		snprintf(lk->addr[lk->n++], sizeof(lk->addr[0]), "%s",
			 addrs[i]);
	if (--rs->pending > 0)
		return;
	pc->rs = NULL;
	pgc_connect(pc, rs);
	free(rs);
}

static void
pgc_start_connect(struct pgcheck *pc)
{
	struct pgc_resolve *rs;
	int i;

	pc->attempt = 1;
	if (!pc->conf.need_dns) {
		pgc_connect(pc, NULL);
		return;
	}
	rs = calloc(1, sizeof(*rs));
	if (!rs) {
		pgc_finish(pc, PGCHECK_INTERNAL, "out of memory");
		return;
	}
	rs->pc = pc;
	pc->rs = rs;
	pc->state = PGC_RESOLVING;
	/* evapi_resolve answers on a later loop turn, never inside the call:
	 * every lookup is launched before any answer comes. */
	for (i = 0; i < pc->conf.nhosts; i++) {
		struct pgc_lookup *lk;

		if (pc->conf.htype[i] != PGCONF_HOST_NAME)
			continue;
		lk = &rs->lk[rs->n++];
		lk->rs = rs;
		lk->host = i;
		lk->req = evapi_resolve(pc->loop, pc->conf.hosts[i],
					pgc_resolved, lk);
		if (lk->req == NULL) {
			lk->done = 1;
			lk->err = EVAPI_LOOKUP_FAILED;
		} else {
			rs->pending++;
		}
	}
	if (rs->pending == 0) {
		pc->rs = NULL;
		pgc_connect(pc, rs);
		free(rs);
	}
}

/* ---- public --------------------------------------------------------------------- */

static void
pgc_deadline_cb(evapi_timer *t, void *arg)
{
	struct pgcheck *pc = arg;
	static const char *const stage[] = {
		[PGC_IDLE] = "idle",
		[PGC_RESOLVING] = "resolving the host name",
		[PGC_CONNECTING] = "connecting",
		[PGC_QUERYING] = "waiting for the query",
	};
	char msg[128];

	(void)t;
	snprintf(msg, sizeof(msg), "no answer within %u ms while %s",
		 pc->timeout_ms, stage[pc->state]);
	pgc_finish(pc, PGCHECK_TIMEOUT, msg);
}

int
evapi_pgcheck_run(struct pgcheck *pc)
{
	uint64_t now;

	if (pc->state != PGC_IDLE)
		return -1;
	pc->attempt = 0;
	pc->reused = 0;
	now = mono_ms();
	if (!pc->conn && now < pc->next_attempt_ms) {
		char msg[96];

		snprintf(msg, sizeof(msg), "%s; next attempt in %llu ms",
			 evapi_pgerr_reason_str(pc->last_reason),
			 (unsigned long long)(pc->next_attempt_ms - now));
		pc->hooks.done(pc->arg, pc->last_reason, msg);
		return 0;
	}
	evapi_timer_start(pc->deadline, pc->timeout_ms, 0);
	if (pc->conn) {
		pc->reused = 1;
		pgc_send_query(pc);
	} else {
		pgc_start_connect(pc);
	}
	return 0;
}

struct pgcheck *
evapi_pgcheck_new(evapi_loop *loop, const char *conninfo, unsigned timeout_ms,
		  const struct pgcheck_hooks *hooks, void *arg, char *err,
		  size_t errlen)
{
	struct pgcheck *pc;

	if (!conninfo || !hooks || !hooks->done) {
		snprintf(err, errlen, "no connection string");
		return NULL;
	}
	pc = calloc(1, sizeof(*pc));
	if (!pc) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pc->loop = loop;
	pc->hooks = *hooks;
	pc->arg = arg;
	pc->timeout_ms = timeout_ms;
	pc->state = PGC_IDLE;
	pc->io_fd = -1;
	pc->last_reason = PGCHECK_CONNECT_FAILED;
	pc->rng = (uint64_t)mono_ms() * 0x9E3779B97F4A7C15ULL ^
		  (uint64_t)getpid() << 17 ^ (uint64_t)(uintptr_t)pc;
	if (pc->rng == 0)
		pc->rng = 1;
	if (evapi_pgconf_parse(&pc->conf, conninfo, PGC_APP_NAME, err,
			       errlen) != EVAPI_OK)
		goto fail;
	pc->deadline = evapi_timer_new(loop, pgc_deadline_cb, pc);
	if (!pc->deadline) {
		snprintf(err, errlen, "cannot create a timer");
		goto fail;
	}
	return pc;
fail:
	evapi_pgcheck_free(pc);
	return NULL;
}

void
evapi_pgcheck_target(const struct pgcheck *pc, char *out, size_t outlen)
{
	evapi_pgconf_target(&pc->conf, out, outlen);
}

void
evapi_pgcheck_free(struct pgcheck *pc)
{
	if (!pc)
		return;
	pgc_cancel_resolve(pc);
	pgc_drop_conn(pc);
	evapi_timer_free(pc->deadline);
	evapi_pgconf_free(&pc->conf);
	free(pc);
}
