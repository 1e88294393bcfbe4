/*
 * link.c - one PostgreSQL connection of a pool (pool.h), on its loop.
 *
 *   IDLE/BACKOFF --start--> RESOLVING (host names) --> CONNECTING
 *   CONNECTING --PQconnectPoll OK--> PREPARING (pipeline mode, every
 *               statement prepared, each with its own sync)
 *   PREPARING --last prepare answered--> READY
 *   READY: queries go out as PQsendQueryPrepared + PQpipelineSync (each
 *          its own transaction: an error aborts only itself) and their
 *          results come back in order
 *   any --failure--> BACKOFF (250 ms doubling to 2 s, +-20%), or at once
 *          when an established connection was lost
 *
 * A connection attempt has its own deadline (DB_CONNECT_TIMEOUT_MS).
 * Blocking calls avoided on purpose: PQconnectdb, PQexec, PQcancel (sent
 * on cancel.c's thread), getaddrinfo on a host name (evapi_resolve finds
 * the addresses and libpq gets them as hostaddr), GSSAPI credential
 * lookups (gssencmode=disable unless configured), and a blocking flush
 * in PQfinish (the connection is non-blocking once established).
 *
 * A query dropped by its caller (timeout, client gone) stays in the
 * pipeline until its result comes; if it is at the head for
 * CANCEL_AFTER_MS, it is cancelled on the server, and the connection takes
 * no new query until its pipeline is empty. A query behind it that the
 * cancel hit instead (SQLSTATE 57014) never ran to completion: it goes
 * again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"

#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 2000
#define CANCEL_AFTER_MS 100

/* One lookup for one host name of the list. */
struct pg_lookup {
	struct pg_link *l;
	int host; /* index into conf.hosts */
	int done;
	int err;
	int n;
	char addr[PG_MAX_ADDRS][48];
	evapi_lookup *req;
};

/* A growable comma-separated list. */
struct pg_list {
	char *s;
	size_t len, cap;
	int n;
	int failed;
};

static void link_fail(struct pg_link *l, enum pgcheck_reason reason,
		      const char *msg);
static void link_arm(struct pg_link *l);

#define COUNT(l, field, d)                                                     \
	atomic_fetch_add_explicit(&(l)->pool->n.field,                         \
				  (unsigned long long)(d),                     \
				  memory_order_relaxed)

static const struct pg *
pg_of(const struct pg_link *l)
{
	return l->pool->pg;
}

static void
clean(const struct pg_link *l, char *out, size_t outlen, const char *msg)
{
	evapi_pgerr_clean(pg_of(l)->conf.password, out, outlen, msg);
}

static void
on_notice(void *arg, const char *message)
{
	struct pg_link *l = arg;

	/* Never let libpq print to stderr; keep the text for the next log. */
	clean(l, l->notice, sizeof(l->notice), message);
	evapi_pg_pool_log(l->pool, EVAPI_LOG_DEBUG, "database notice", "detail",
			  l->notice);
}

/* ---- the socket
 * ------------------------------------------------------------------ */

static void
io_free(struct pg_link *l)
{
	evapi_io_free(l->io);
	l->io = NULL;
	l->io_fd = -1;
	l->io_events = 0;
}

static void link_io(evapi_io *io, int events, void *arg);

/* Wait for EVENTS on the connection's current socket. While connecting,
 * once per call: libpq may close a socket and open another (the next
 * host or address), often with the same number, so nothing is kept.
 * Once established, the socket stays: the wait persists and is changed
 * only when EVENTS change (each change costs system calls). */
static int
watch(struct pg_link *l, int events)
{
	int fd = PQsocket(l->conn);
	int stable = l->state == L_READY || l->state == L_PREPARING;

	if (fd < 0)
		return -1;
	if (l->io == NULL || l->io_fd != fd || !stable) {
		io_free(l);
		l->io = evapi_io_new(l->pool->loop, fd, link_io, l);
		if (l->io == NULL)
			return -1;
		l->io_fd = fd;
	}
	if (stable && l->io_events == events)
		return 0;
	if (evapi_io_want(l->io, events | (stable ? EVAPI_IO_PERSIST : 0), 0) !=
	    EVAPI_OK)
		return -1;
	l->io_events = stable ? events : 0;
	return 0;
}

/* ---- lists
 * ---------------------------------------------------------------------- */

static void
list_add(struct pg_list *s, const char *item)
{
	size_t n = strlen(item);

	if (s->failed)
		return;
	if (s->len + n + 2 > s->cap) {
		size_t cap = (s->len + n + 2) * 2;
		char *p = realloc(s->s, cap);

		if (!p) {
			s->failed = 1;
			return;
		}
		s->s = p;
		s->cap = cap;
	}
	if (s->n++ > 0)
		s->s[s->len++] = ',';
	memcpy(s->s + s->len, item, n);
	s->len += n;
	s->s[s->len] = '\0';
}

/* ---- the pipeline
 * ---------------------------------------------------------------- */

static void
pipe_push(struct pg_link *l, struct evapi_pg_query *q)
{
	q->next = NULL;
	q->prev = l->tail;
	if (l->tail)
		l->tail->next = q;
	else
		l->head = q;
	l->tail = q;
	q->link = l;
	q->state = Q_SENT;
	if (l->inflight++ == 0) {
		COUNT(l, busy, 1);
		l->head_since = evapi_pg_mono_ms();
	}
}

static struct evapi_pg_query *
pipe_pop(struct pg_link *l)
{
	struct evapi_pg_query *q = l->head;

	l->head = q->next;
	if (l->head)
		l->head->prev = NULL;
	else
		l->tail = NULL;
	q->next = q->prev = NULL;
	q->link = NULL;
	if (--l->inflight == 0)
		COUNT(l, busy, -1);
	l->head_since = evapi_pg_mono_ms();
	return q;
}

static void
internal_free(struct evapi_pg_query *q)
{
	free(q->params);
	free(q);
}

/* ---- cancelling a dropped query on the server
 * ------------------------------------------ */

static void
send_cancel(struct pg_link *l)
{
	struct evapi_pg_query *q = l->head;
	PGcancel *c;

	if (q == NULL || !q->dropped || q->cancel_sent || l->state != L_READY)
		return;
	c = PQgetCancel(l->conn);
	if (c == NULL)
		return;
	q->cancel_sent = 1;
	l->cancel_target = q;
	l->cancelling = 1;
	evapi_pg_cancel_send(pg_of(l)->cancels, c);
}

static void
on_cancel_timer(evapi_timer *t, void *arg)
{
	(void)t;
	send_cancel(arg);
}

/* The head is a dropped query: cancel it once it has run long enough to
 * be worth a connection to the server (short ones just finish). */
static void
check_head(struct pg_link *l)
{
	struct evapi_pg_query *q = l->head;
	uint64_t age;

	if (q == NULL || !q->dropped || q->cancel_sent || q->st == NULL)
		return;
	age = evapi_pg_mono_ms() - l->head_since;
	if (age >= CANCEL_AFTER_MS)
		send_cancel(l);
	else
		evapi_timer_start(l->cancel_timer,
				  (unsigned long)(CANCEL_AFTER_MS - age), 0);
}

void
evapi_pg_link_dropped(struct pg_link *l, struct evapi_pg_query *q)
{
	if (l != NULL && l->head == q)
		check_head(l);
}

/* ---- results
 * ---------------------------------------------------------------------------
 */

static int
is_cancelled(const PGresult *res)
{
	const char *code = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	return code != NULL && strcmp(code, "57014") == 0;
}

/* A statement's prepare came back. */
static void
prepared(struct pg_link *l, struct evapi_pg_query *q, const PGresult *res)
{
	struct evapi_pg_stmt *st = (struct evapi_pg_stmt *)q->prep;

	if (res != NULL && PQresultStatus(res) == PGRES_FATAL_ERROR &&
	    !st->failed) {
		const char *code = PQresultErrorField(res, PG_DIAG_SQLSTATE);

		st->failed = 1;
		snprintf(st->sqlstate, sizeof(st->sqlstate), "%s",
			 code ? code : "");
		clean(l, st->error, sizeof(st->error),
		      PQresultErrorMessage(res));
		evapi_log(pg_of(l)->ctx, EVAPI_LOG_ERROR,
			  "the database refused a statement", "sql", st->sql,
			  "sqlstate", st->sqlstate, "detail", st->error,
			  (const char *)0);
	}
	internal_free(q);
}

/* The head's results are all in: answer it (RES: its first result). */
static void
complete(struct pg_link *l, PGresult *res)
{
	struct evapi_pg_query *q = pipe_pop(l);
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;

	if (l->cancel_target == q)
		l->cancel_target = NULL;
	if (q->st == NULL) {
		prepared(l, q, res);
		return;
	}
	if (evapi_pg_pool_release(q))
		return;
	if (st == PGRES_FATAL_ERROR && res != NULL && is_cancelled(res) &&
	    !q->retried) {
		/* A cancel meant for the query before it: never ran. */
		evapi_pg_pool_requeue(q);
		return;
	}
	q->state = Q_ANSWERING;
	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK ||
	    st == PGRES_EMPTY_QUERY)
		evapi_pg_pool_answer(q, EVAPI_PG_OK, PGCHECK_OK, res);
	else
		evapi_pg_pool_answer(q, EVAPI_PG_ERROR, PGCHECK_QUERY_FAILED,
				     res);
}

/* Read what came: 0, or -1 when the link failed. */
static int
consume(struct pg_link *l)
{
	while (l->head != NULL || l->await_sync) {
		PGresult *res;

		if (PQisBusy(l->conn))
			break;
		res = PQgetResult(l->conn);
		if (l->await_sync) {
			if (res == NULL)
				break;
			if (PQresultStatus(res) != PGRES_PIPELINE_SYNC) {
				PQclear(res);
				link_fail(l, PGCHECK_INTERNAL,
					  "unexpected result in the pipeline");
				return -1;
			}
			PQclear(res);
			l->await_sync = 0;
			continue;
		}
		if (res != NULL) {
			if (PQresultStatus(res) == PGRES_PIPELINE_SYNC) {
				PQclear(res);
				link_fail(l, PGCHECK_INTERNAL,
					  "a sync came before its results");
				return -1;
			}
			/* A statement gives one result; keep the first. */
			if (l->head_res == NULL)
				l->head_res = res;
			else
				PQclear(res);
			continue;
		}
		res = l->head_res;
		l->head_res = NULL;
		l->await_sync = 1;
		complete(l, res);
		PQclear(res);
		if (l->state != L_READY && l->state != L_PREPARING)
			return -1;
	}
	return 0;
}

/* ---- ready
 * -----------------------------------------------------------------------------
 */

static void
became_ready(struct pg_link *l)
{
	evapi_timer_stop(l->timer);
	l->state = L_READY;
	l->failures = 0;
	l->established_once = 1;
	COUNT(l, open, 1);
	evapi_pg_pool_log(l->pool, EVAPI_LOG_DEBUG,
			  "database connection established", "host",
			  PQhost(l->conn) && *PQhost(l->conn) ? PQhost(l->conn)
							      : "default");
	evapi_pg_pool_link_ready(l->pool, l);
}

/* After a batch of results: what the link can do now. */
static void
settle(struct pg_link *l)
{
	if (l->state == L_PREPARING && l->head == NULL && !l->await_sync)
		became_ready(l);
	if (l->state != L_READY)
		return;
	if (l->head == NULL && !l->await_sync) {
		l->cancelling = 0;
		l->cancel_target = NULL;
	}
	check_head(l);
	if (l->inflight < pg_of(l)->depth && !l->cancelling)
		evapi_pg_pool_link_ready(l->pool, l);
}

static void
link_read(struct pg_link *l)
{
	PGnotify *n;

	if (!PQconsumeInput(l->conn)) {
		const char *msg = PQerrorMessage(l->conn);

		link_fail(l, evapi_pgerr_classify(msg, 0), msg);
		return;
	}
	if (consume(l) != 0)
		return;
	while ((n = PQnotifies(l->conn)) != NULL)
		PQfreemem(n);
	if (PQstatus(l->conn) != CONNECTION_OK) {
		char msg[2 * PG_DETAIL_LEN];

		snprintf(msg, sizeof(msg), "%s %s", l->notice,
			 PQerrorMessage(l->conn));
		link_fail(l, evapi_pgerr_classify(msg, 0), msg);
		return;
	}
	settle(l);
}

void
evapi_pg_link_flush(struct pg_link *l)
{
	int r;

	l->want_flush = 0;
	if (l->state != L_READY && l->state != L_PREPARING)
		return;
	r = PQflush(l->conn);
	if (r < 0) {
		const char *msg = PQerrorMessage(l->conn);

		link_fail(l, evapi_pgerr_classify(msg, 0), msg);
		return;
	}
	l->flush_pending = r > 0;
	link_arm(l);
}

static void
link_arm(struct pg_link *l)
{
	int events = EVAPI_IO_READ | (l->flush_pending ? EVAPI_IO_WRITE : 0);

	if (watch(l, events) < 0)
		link_fail(l, PGCHECK_INTERNAL, "cannot watch the socket");
}

/* ---- connecting
 * ------------------------------------------------------------------------- */

static int
send_prepares(struct pg_link *l)
{
	const struct pg *pg = pg_of(l);
	size_t i;

	for (i = 0; i < pg->nstmts; i++) {
		struct evapi_pg_query *q = calloc(1, sizeof(*q));

		if (q == NULL)
			return -1;
		q->pool = l->pool;
		q->prep = pg->stmts[i];
		if (!PQsendPrepare(l->conn, pg->stmts[i]->name,
				   pg->stmts[i]->sql, 0, NULL) ||
		    !PQpipelineSync(l->conn)) {
			free(q);
			return -1;
		}
		pipe_push(l, q);
	}
	return 0;
}

static void
connected(struct pg_link *l)
{
	io_free(l);
	/* Non-blocking from now on: PQflush and PQfinish's Terminate message
	 * must never wait for the socket. */
	if (PQsetnonblocking(l->conn, 1) != 0 ||
	    !PQenterPipelineMode(l->conn)) {
		link_fail(l, PGCHECK_INTERNAL, PQerrorMessage(l->conn));
		return;
	}
	l->state = L_PREPARING;
	if (send_prepares(l) != 0) {
		link_fail(l, PGCHECK_INTERNAL, PQerrorMessage(l->conn));
		return;
	}
	evapi_pg_link_flush(l);
	if (l->state == L_PREPARING)
		settle(l);
}

static void
connect_poll(struct pg_link *l)
{
	int w;

	switch (PQconnectPoll(l->conn)) {
	case PGRES_POLLING_READING:
		w = watch(l, EVAPI_IO_READ);
		break;
	case PGRES_POLLING_WRITING:
		w = watch(l, EVAPI_IO_WRITE);
		break;
	case PGRES_POLLING_OK:
		connected(l);
		return;
	default: {
		const char *msg = PQerrorMessage(l->conn);

		link_fail(l, evapi_pgerr_classify(msg, 1), msg);
		return;
	}
	}
	if (w < 0)
		link_fail(l, PGCHECK_INTERNAL, "cannot watch the socket");
}

static void
link_io(evapi_io *io, int events, void *arg)
{
	struct pg_link *l = arg;

	(void)io;
	switch (l->state) {
	case L_CONNECTING:
		connect_poll(l);
		break;
	case L_PREPARING:
	case L_READY:
		/* libpq: while a flush is pending, read input too, or a
		 * server blocked on writing to us could deadlock. */
		if (events & EVAPI_IO_READ)
			link_read(l);
		if ((events & EVAPI_IO_WRITE) &&
		    (l->state == L_READY || l->state == L_PREPARING))
			evapi_pg_link_flush(l);
		break;
	default:
		break;
	}
}

static void
add_target(struct pg_list *h, struct pg_list *a, struct pg_list *p,
	   const char *host, const char *addr, const char *port)
{
	list_add(h, host);
	list_add(a, addr);
	if (port)
		list_add(p, port);
}

/* The host, hostaddr and port lists of one attempt: every name replaced
 * by its addresses. 0 when none is left (DNS_ERR says why). */
static int
targets(struct pg_link *l, struct pg_list *h, struct pg_list *a,
	struct pg_list *p, int *dns_err)
{
	const struct pgconf *c = &pg_of(l)->conf;
	int i, j, k;

	for (i = 0; i < c->nhosts; i++) {
		const char *port = c->nports > 1 ? c->ports[i] : NULL;
		const struct pg_lookup *lk = NULL;

		switch (c->htype[i]) {
		case PGCONF_HOST_NAME:
			for (j = 0; l->lookups && j < c->nhosts; j++)
				if (l->lookups[j].l && l->lookups[j].host == i)
					lk = &l->lookups[j];
			if (!lk || lk->err || lk->n == 0) {
				if (!*dns_err)
					*dns_err =
						lk && lk->err
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

static void
drop_lookups(struct pg_link *l)
{
	const struct pgconf *c = &pg_of(l)->conf;
	int i;

	if (l->lookups == NULL)
		return;
	for (i = 0; i < c->nhosts; i++)
		if (l->lookups[i].l && !l->lookups[i].done && l->lookups[i].req)
			evapi_lookup_cancel(l->lookups[i].req);
	free(l->lookups);
	l->lookups = NULL;
	l->lookups_pending = 0;
}

/* Start libpq's connection with every host name replaced by addresses. */
static void
open_conn(struct pg_link *l)
{
	struct pg_list h = {0}, a = {0}, p = {0};
	const struct pgconf *c = &pg_of(l)->conf;
	/* Every loop connects at the same time: each attempt has its own
	 * copy of the keyword arrays (+ host, hostaddr, port, NULL). */
	const char **kw = calloc((size_t)c->nopt + 4, sizeof(*kw));
	const char **val = calloc((size_t)c->nopt + 4, sizeof(*val));
	int n = c->nopt, dns_err = 0;

	if (kw == NULL || val == NULL) {
		link_fail(l, PGCHECK_INTERNAL, "out of memory");
		goto out;
	}
	memcpy(kw, c->kw, (size_t)n * sizeof(*kw));
	memcpy(val, c->val, (size_t)n * sizeof(*val));
	if (c->expand_hosts) {
		if (!targets(l, &h, &a, &p, &dns_err)) {
			drop_lookups(l);
			link_fail(l,
				  dns_err == EVAPI_LOOKUP_NOT_FOUND
					  ? PGCHECK_HOST_NOT_FOUND
					  : PGCHECK_DNS_ERROR,
				  evapi_lookup_error(dns_err));
			goto out;
		}
		if (h.failed || a.failed || p.failed) {
			link_fail(l, PGCHECK_INTERNAL, "out of memory");
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
	drop_lookups(l);
	kw[n] = NULL;
	val[n] = NULL;
	l->state = L_CONNECTING;
	l->notice[0] = '\0';
	l->conn = PQconnectStartParams(kw, val, 0);
	if (!l->conn) {
		link_fail(l, PGCHECK_INTERNAL, "out of memory");
		goto out;
	}
	PQsetNoticeProcessor(l->conn, on_notice, l);
	if (PQstatus(l->conn) == CONNECTION_BAD) {
		const char *msg = PQerrorMessage(l->conn);

		link_fail(l, evapi_pgerr_classify(msg, 1), msg);
		goto out;
	}
	/* libpq: start as if PQconnectPoll had returned WRITING. */
	if (watch(l, EVAPI_IO_WRITE) < 0)
		link_fail(l, PGCHECK_INTERNAL, "cannot watch the socket");
out:
	/* libpq copied the parameters. */
	free(kw);
	free(val);
	free(h.s);
	free(a.s);
	free(p.s);
}

static void
resolved(int err, const char *const *addrs, int naddrs, void *arg)
{
	struct pg_lookup *lk = arg;
	struct pg_link *l = lk->l;
	int i;

	lk->done = 1;
	lk->req = NULL;
	lk->err = err;
	for (i = 0; i < naddrs && lk->n < PG_MAX_ADDRS; i++)
		snprintf(lk->addr[lk->n++], sizeof(lk->addr[0]), "%s",
			 addrs[i]);
	if (--l->lookups_pending > 0)
		return;
	open_conn(l);
}

static void
resolve(struct pg_link *l)
{
	const struct pgconf *c = &pg_of(l)->conf;
	int i;

	l->lookups = calloc((size_t)c->nhosts, sizeof(*l->lookups));
	if (l->lookups == NULL) {
		link_fail(l, PGCHECK_INTERNAL, "out of memory");
		return;
	}
	l->state = L_RESOLVING;
	/* evapi_resolve answers on a later loop turn, never inside the call:
	 * every lookup is launched before any answer comes. */
	for (i = 0; i < c->nhosts; i++) {
		struct pg_lookup *lk = &l->lookups[i];

		if (c->htype[i] != PGCONF_HOST_NAME)
			continue;
		lk->l = l;
		lk->host = i;
		lk->req =
			evapi_resolve(l->pool->loop, c->hosts[i], resolved, lk);
		if (lk->req == NULL) {
			lk->done = 1;
			lk->err = EVAPI_LOOKUP_FAILED;
		} else {
			l->lookups_pending++;
		}
	}
	if (l->lookups_pending == 0)
		open_conn(l);
}

void
evapi_pg_link_start(struct pg_link *l)
{
	if (l->state != L_IDLE && l->state != L_BACKOFF)
		return;
	if (l->pool->stopping)
		return;
	evapi_timer_start(l->timer, pg_of(l)->connect_timeout_ms, 0);
	if (pg_of(l)->conf.need_dns)
		resolve(l);
	else
		open_conn(l);
}

/* ---- failure
 * ---------------------------------------------------------------------------
 */

/* xorshift64*: jitter needs no more. */
static uint64_t
next_random(struct pg_pool *p)
{
	uint64_t x = p->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	p->rng = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static unsigned
backoff_ms(struct pg_link *l)
{
	unsigned ms = BACKOFF_MIN_MS, f = l->failures;

	while (--f > 0 && ms < BACKOFF_MAX_MS)
		ms *= 2;
	if (ms > BACKOFF_MAX_MS)
		ms = BACKOFF_MAX_MS;
	/* +-20% jitter so that replicas do not reconnect in lockstep after a
	 * database restart. */
	return ms - ms / 5 +
	       (unsigned)(next_random(l->pool) % (2 * (ms / 5) + 1));
}

static void
close_conn(struct pg_link *l)
{
	evapi_timer_stop(l->cancel_timer);
	drop_lookups(l);
	io_free(l);
	if (l->head_res) {
		PQclear(l->head_res);
		l->head_res = NULL;
	}
	if (l->conn) {
		PQfinish(l->conn);
		l->conn = NULL;
	}
	l->await_sync = 0;
	l->flush_pending = 0;
	l->want_flush = 0;
	l->cancelling = 0;
	l->cancel_target = NULL;
}

/* The pipeline's queries after a failure: a dropped one is released, one
 * safe to repeat goes again, the others fail with REASON. */
static void
empty_pipeline(struct pg_link *l, enum pgcheck_reason reason)
{
	while (l->head != NULL) {
		struct evapi_pg_query *q = pipe_pop(l);

		if (q->st == NULL) {
			internal_free(q);
			continue;
		}
		if (evapi_pg_pool_release(q))
			continue;
		if ((q->flags & EVAPI_PG_RETRY) && !q->retried) {
			evapi_pg_pool_requeue(q);
			continue;
		}
		q->state = Q_ANSWERING;
		COUNT(l, unavailable, 1);
		evapi_pg_pool_answer(q, EVAPI_PG_UNAVAILABLE, reason, NULL);
	}
}

static void
log_failure(struct pg_link *l, enum pgcheck_reason reason, int lost)
{
	int level = EVAPI_LOG_DEBUG;

	/* One warning per change of reason and pool, not one per link and
	 * attempt. */
	if (lost || reason != l->pool->last_reason)
		level = EVAPI_LOG_WARN;
	evapi_log(pg_of(l)->ctx, level,
		  lost ? "database connection lost"
		       : "database connection failed",
		  "reason", evapi_pgerr_reason_str(reason), "detail", l->detail,
		  (const char *)0);
}

static void
link_fail(struct pg_link *l, enum pgcheck_reason reason, const char *msg)
{
	int lost = l->state == L_READY || l->state == L_PREPARING;

	if (l->state == L_READY)
		COUNT(l, open, -1);
	clean(l, l->detail, sizeof(l->detail), msg);
	close_conn(l);
	evapi_timer_stop(l->timer);
	l->last_reason = reason;
	/* A connection that worked reconnects at once (a server restart, an
	 * admin's kill); failed attempts back off. */
	if (lost && l->failures == 0) {
		l->state = L_IDLE;
	} else {
		l->failures++;
		l->state = L_BACKOFF;
		evapi_timer_start(l->timer, backoff_ms(l), 0);
	}
	log_failure(l, reason, lost);
	if (l->state == L_IDLE)
		evapi_pg_link_start(l);
	/* Requeued queries must see this link as down (or coming up). */
	empty_pipeline(l, reason == PGCHECK_OK ? PGCHECK_LOST : reason);
	evapi_pg_pool_link_down(l->pool, l, lost);
}

static void
on_timer(evapi_timer *t, void *arg)
{
	struct pg_link *l = arg;
	char msg[96];

	(void)t;
	switch (l->state) {
	case L_BACKOFF:
		evapi_pg_link_start(l);
		break;
	case L_RESOLVING:
	case L_CONNECTING:
	case L_PREPARING:
		snprintf(msg, sizeof(msg), "no connection within %u ms",
			 pg_of(l)->connect_timeout_ms);
		/* Counted as a failed attempt: back off. */
		l->state = L_CONNECTING;
		link_fail(l, PGCHECK_TIMEOUT, msg);
		break;
	default:
		break;
	}
}

/* ---- the pool's side
 * ------------------------------------------------------------------------ */

int
evapi_pg_link_usable(const struct pg_link *l)
{
	return l->state == L_READY && !l->cancelling;
}

int
evapi_pg_link_send(struct pg_link *l, struct evapi_pg_query *q)
{
	if (!PQsendQueryPrepared(l->conn, q->st->name, q->nparams,
				 (const char *const *)q->params, NULL, NULL,
				 0) ||
	    !PQpipelineSync(l->conn)) {
		const char *msg = PQerrorMessage(l->conn);

		link_fail(l, evapi_pgerr_classify(msg, 0), msg);
		return EVAPI_ERR;
	}
	pipe_push(l, q);
	if (!l->want_flush) {
		l->want_flush = 1;
		evapi_pg_pool_flush_soon(l->pool);
	}
	return EVAPI_OK;
}

int
evapi_pg_link_init(struct pg_link *l, struct pg_pool *p, unsigned index)
{
	memset(l, 0, sizeof(*l));
	l->pool = p;
	l->index = index;
	l->io_fd = -1;
	l->state = L_IDLE;
	l->last_reason = PGCHECK_CONNECT_FAILED;
	l->timer = evapi_timer_new(p->loop, on_timer, l);
	l->cancel_timer = evapi_timer_new(p->loop, on_cancel_timer, l);
	return l->timer && l->cancel_timer ? EVAPI_OK : EVAPI_ERR;
}

/* At the end: the queries of the pipeline that the pool does not keep
 * (dropped ones, prepares) are freed here; the others by the pool. */
void
evapi_pg_link_free(struct pg_link *l)
{
	struct evapi_pg_query *q = l->head;

	while (q != NULL) {
		struct evapi_pg_query *next = q->next;

		if (q->st == NULL || q->dropped)
			internal_free(q);
		q = next;
	}
	l->head = l->tail = NULL;
	close_conn(l);
	evapi_timer_free(l->timer);
	evapi_timer_free(l->cancel_timer);
	l->timer = l->cancel_timer = NULL;
	l->state = L_IDLE;
}
