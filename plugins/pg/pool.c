/*
 * pool.c - one loop's pool (pool.h): where a query goes, the wait queue,
 * deadlines, and failures answered on the next turn of the loop.
 *
 * A query goes to the ready connection with the fewest queries in flight
 * (a second query joins a pipeline only when every connection has one),
 * up to DB_PIPELINE_DEPTH each. Without room it waits in the queue (at
 * most DB_QUEUE_MAX), and without a place there it fails with BUSY. When
 * no connection is up and none is being made (all backing off), it fails
 * at once with the reason of the last failure, so a database that is
 * down costs a client nothing but the 503: the pool counts as down from
 * a failed attempt (or a query that timed out waiting for a connection)
 * for a backoff (250 ms doubling to 2 s) or until a connection is up.
 * Otherwise (at start, after an established connection broke, after the
 * backoff) queries wait for the connection being made.
 *
 * Every query not yet answered is on one list; a single timer fires at
 * the earliest deadline among them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pool.h"

uint64_t
evapi_pg_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void
evapi_pg_pool_log(const struct pg_pool *p, int level, const char *msg,
		  const char *key, const char *value)
{
	evapi_log(p->pg->ctx, level, msg, key, value, (const char *)0);
}

#define INC(p, field)                                                          \
	atomic_fetch_add_explicit(&(p)->n.field, 1, memory_order_relaxed)
#define DEC(p, field)                                                          \
	atomic_fetch_sub_explicit(&(p)->n.field, 1, memory_order_relaxed)

/* ---- lists
 * --------------------------------------------------------------------- */

static void
wait_push(struct pg_pool *p, struct evapi_pg_query *q, int front)
{
	q->state = Q_WAITING;
	q->prev = q->next = NULL;
	if (front) {
		q->next = p->wait_head;
		if (p->wait_head)
			p->wait_head->prev = q;
		else
			p->wait_tail = q;
		p->wait_head = q;
	} else {
		q->prev = p->wait_tail;
		if (p->wait_tail)
			p->wait_tail->next = q;
		else
			p->wait_head = q;
		p->wait_tail = q;
	}
	p->nwait++;
	INC(p, waiters);
}

static void
wait_remove(struct pg_pool *p, struct evapi_pg_query *q)
{
	if (q->prev)
		q->prev->next = q->next;
	else
		p->wait_head = q->next;
	if (q->next)
		q->next->prev = q->prev;
	else
		p->wait_tail = q->prev;
	q->prev = q->next = NULL;
	p->nwait--;
	DEC(p, waiters);
}

static void
open_add(struct pg_pool *p, struct evapi_pg_query *q)
{
	q->dprev = NULL;
	q->dnext = p->open_head;
	if (p->open_head)
		p->open_head->dprev = q;
	p->open_head = q;
}

static void
open_remove(struct pg_pool *p, struct evapi_pg_query *q)
{
	if (q->dprev)
		q->dprev->dnext = q->dnext;
	else if (p->open_head == q)
		p->open_head = q->dnext;
	if (q->dnext)
		q->dnext->dprev = q->dprev;
	q->dprev = q->dnext = NULL;
}

static void
query_free(struct evapi_pg_query *q)
{
	free(q->params);
	free(q);
}

/* ---- the next turn ----------------------------------------------------------
 */

void
evapi_pg_pool_flush_soon(struct pg_pool *p)
{
	if (p->soon_armed || p->stopping)
		return;
	if (evapi_timer_start(p->soon, 0, 0) == EVAPI_OK)
		p->soon_armed = 1;
}

/* Answer Q with STATUS on the next turn (never inside evapi_pg_query). */
static void
fail_soon(struct pg_pool *p, struct evapi_pg_query *q, int status,
	  enum pgcheck_reason reason)
{
	q->state = Q_FAILING;
	q->fail_status = status;
	q->fail_reason = reason;
	q->next = NULL;
	q->prev = p->failing_tail;
	if (p->failing_tail)
		p->failing_tail->next = q;
	else
		p->failing_head = q;
	p->failing_tail = q;
	evapi_pg_pool_flush_soon(p);
}

static void
on_soon(evapi_timer *t, void *arg)
{
	struct pg_pool *p = arg;
	struct evapi_pg_query *q;
	unsigned i;

	(void)t;
	p->soon_armed = 0;
	for (i = 0; i < p->nlinks; i++)
		if (p->links[i].want_flush)
			evapi_pg_link_flush(&p->links[i]);
	/* Failures queued meanwhile are delivered on the turn after. */
	q = p->failing_head;
	p->failing_head = p->failing_tail = NULL;
	while (q != NULL) {
		struct evapi_pg_query *next = q->next;

		evapi_pg_pool_answer(q, q->fail_status, q->fail_reason, NULL);
		q = next;
	}
}

static int
is_down(const struct pg_pool *p)
{
	return p->down_until != 0 && evapi_pg_mono_ms() < p->down_until;
}

static void
set_down(struct pg_pool *p, enum pgcheck_reason reason)
{
	unsigned ms = 250, i;

	p->last_reason = reason;
	for (i = 1; i < p->downs && ms < 2000; i++)
		ms *= 2;
	if (ms > 2000)
		ms = 2000;
	p->downs++;
	p->down_until = evapi_pg_mono_ms() + ms;
}

static int
any_ready(const struct pg_pool *p)
{
	unsigned i;

	for (i = 0; i < p->nlinks; i++)
		if (p->links[i].state == L_READY)
			return 1;
	return 0;
}

/* Nothing will come up soon: fail the waiting queries. */
static void
fail_waiting(struct pg_pool *p)
{
	struct evapi_pg_query *q;

	while ((q = p->wait_head) != NULL) {
		wait_remove(p, q);
		INC(p, unavailable);
		fail_soon(p, q, EVAPI_PG_UNAVAILABLE, p->last_reason);
	}
}

/* ---- deadlines
 * ----------------------------------------------------------------- */

static void
arm_deadline(struct pg_pool *p, uint64_t at)
{
	uint64_t now;

	if (p->deadline_at != 0 && p->deadline_at <= at)
		return;
	now = evapi_pg_mono_ms();
	p->deadline_at = at;
	evapi_timer_start(p->deadline, at > now ? (unsigned long)(at - now) : 0,
			  0);
}

static void
on_deadline(evapi_timer *t, void *arg)
{
	struct pg_pool *p = arg;
	uint64_t now = evapi_pg_mono_ms(), next = 0;
	struct evapi_pg_query *q, *expired = NULL;

	(void)t;
	p->deadline_at = 0;
	/* Collect first (answering may add or cancel queries); a waiting one
	 * leaves the queue now and is answered like a failure, so that a
	 * cancel from another callback only marks it. */
	for (q = p->open_head; q != NULL; q = q->dnext) {
		if (q->state == Q_FAILING)
			continue;
		if (q->deadline <= now) {
			if (q->state == Q_WAITING) {
				wait_remove(p, q);
				q->state = Q_FAILING;
			}
			q->xnext = expired;
			expired = q;
		} else if (next == 0 || q->deadline < next) {
			next = q->deadline;
		}
	}
	while ((q = expired) != NULL) {
		expired = q->xnext;
		if (!q->dropped)
			INC(p, timeouts);
		/* Waited its whole deadline for a connection that never came:
		 * the database does not answer; the next ones fail at once. */
		if (q->state == Q_FAILING && !any_ready(p) && !is_down(p))
			set_down(p, PGCHECK_TIMEOUT);
		evapi_pg_pool_answer(q, EVAPI_PG_TIMEOUT, PGCHECK_TIMEOUT,
				     NULL);
	}
	if (is_down(p))
		fail_waiting(p);
	if (next != 0)
		arm_deadline(p, next);
}

/* ---- placing queries
 * ----------------------------------------------------------- */

static int link_coming(const struct pg_pool *p);

/* The ready link with the fewest queries in flight and room; NULL. A
 * query joins a pipeline only when no connection of the loop is still
 * being made: one that is coming serves it soon, where a pipeline could
 * hold it behind a slow query. */
static struct pg_link *
pick(struct pg_pool *p, int anyway)
{
	struct pg_link *best = NULL;
	unsigned i;

	for (i = 0; i < p->nlinks; i++) {
		struct pg_link *l = &p->links[i];

		if (!evapi_pg_link_usable(l) || l->inflight >= p->pg->depth)
			continue;
		if (best == NULL || l->inflight < best->inflight)
			best = l;
		if (best->inflight == 0)
			return best;
	}
	if (best != NULL && !anyway && link_coming(p))
		return NULL;
	return best;
}

static int
link_coming(const struct pg_pool *p)
{
	unsigned i;

	for (i = 0; i < p->nlinks; i++) {
		enum pg_lstate s = p->links[i].state;

		if (s == L_RESOLVING || s == L_CONNECTING || s == L_PREPARING)
			return 1;
	}
	return 0;
}

/* Some link is being set up and the pool is not known to be down: a
 * query may wait for it. */
static int
coming_up(const struct pg_pool *p)
{
	unsigned i;

	if (is_down(p))
		return 0;
	for (i = 0; i < p->nlinks; i++) {
		enum pg_lstate s = p->links[i].state;

		if (s == L_RESOLVING || s == L_CONNECTING || s == L_PREPARING ||
		    s == L_READY)
			return 1;
	}
	return 0;
}

/* Place Q: on a link, in the queue, or failing. FRONT: it waited before. */
static void
place(struct pg_pool *p, struct evapi_pg_query *q, int front)
{
	/* No room in the queue: a pipeline rather than a refusal. */
	int anyway = !front && p->nwait >= p->queue_max;
	struct pg_link *l;

	while ((l = pick(p, anyway)) != NULL) {
		if (evapi_pg_link_send(l, q) == EVAPI_OK)
			return;
		/* That link failed as it was used; try another. */
	}
	if (!coming_up(p)) {
		INC(p, unavailable);
		fail_soon(p, q, EVAPI_PG_UNAVAILABLE, p->last_reason);
		return;
	}
	if (!front && p->nwait >= p->queue_max) {
		INC(p, busy_refusals);
		fail_soon(p, q, EVAPI_PG_BUSY, PGCHECK_OK);
		return;
	}
	wait_push(p, q, front);
}

/* Room appeared: move waiting queries to links, oldest first. */
static void
drain_queue(struct pg_pool *p)
{
	struct pg_link *l;

	while (p->wait_head != NULL && (l = pick(p, 0)) != NULL) {
		struct evapi_pg_query *q = p->wait_head;

		wait_remove(p, q);
		if (evapi_pg_link_send(l, q) != EVAPI_OK)
			wait_push(p, q, 1);
	}
}

static int
copy_params(struct evapi_pg_query *q, const char *const *params, int n)
{
	size_t size = (size_t)n * sizeof(char *), off;
	int i;

	if (n == 0)
		return 0;
	for (i = 0; i < n; i++)
		if (params[i] != NULL)
			size += strlen(params[i]) + 1;
	q->params = malloc(size);
	if (q->params == NULL)
		return -1;
	off = (size_t)n * sizeof(char *);
	for (i = 0; i < n; i++) {
		size_t len;

		if (params[i] == NULL) {
			q->params[i] = NULL;
			continue;
		}
		len = strlen(params[i]) + 1;
		q->params[i] = (char *)q->params + off;
		memcpy(q->params[i], params[i], len);
		off += len;
	}
	q->nparams = n;
	return 0;
}

struct evapi_pg_query *
evapi_pg_pool_query(struct pg_pool *p, const struct evapi_pg_stmt *st,
		    const char *const *params, int nparams, unsigned flags,
		    unsigned timeout_ms)
{
	struct evapi_pg_query *q = calloc(1, sizeof(*q));

	if (q == NULL)
		return NULL;
	if (copy_params(q, params, nparams) != 0) {
		free(q);
		return NULL;
	}
	q->pool = p;
	q->st = st;
	q->flags = flags;
	q->deadline = evapi_pg_mono_ms() +
		      (timeout_ms ? timeout_ms : p->pg->query_timeout_ms);
	open_add(p, q);
	arm_deadline(p, q->deadline);
	if (p->stopping) {
		fail_soon(p, q, EVAPI_PG_UNAVAILABLE, PGCHECK_SHUTTING_DOWN);
		return q;
	}
	place(p, q, 0);
	return q;
}

/* ---- answers
 * ------------------------------------------------------------------ */

static unsigned
retry_after(const struct pg_pool *p, int status)
{
	(void)p;
	return status == EVAPI_PG_BUSY ? 1 : 2;
}

void
evapi_pg_pool_answer(struct evapi_pg_query *q, int status,
		     enum pgcheck_reason reason, const PGresult *res)
{
	struct pg_pool *p = q->pool;
	struct evapi_pg_result r;

	if (q->state == Q_DONE)
		return;
	if (q->dropped) {
		/* Its caller is gone; a pipeline still holds it until its
		 * result comes, then link.c frees it. */
		if (q->state != Q_SENT) {
			open_remove(p, q);
			q->state = Q_DONE;
			query_free(q);
		}
		return;
	}
	INC(p, queries);
	if (status == EVAPI_PG_ERROR)
		INC(p, errors);
	evapi_pg_result_set(&r, p->pg, status, reason, res,
			    retry_after(p, status));
	open_remove(p, q);
	q->dropped = 1;
	if (q->rfn != NULL)
		q->rfn(q->req, &r, q->arg);
	else if (q->fn != NULL)
		q->fn(&r, q->arg);
	if (q->state == Q_SENT) {
		/* Answered early (timeout) while still in a pipeline: the
		 * link frees it when its result comes. */
		if (q->link != NULL)
			evapi_pg_link_dropped(q->link, q);
		return;
	}
	q->state = Q_DONE;
	query_free(q);
}

int
evapi_pg_pool_release(struct evapi_pg_query *q)
{
	if (!q->dropped)
		return 0;
	open_remove(q->pool, q);
	q->state = Q_DONE;
	query_free(q);
	return 1;
}

void
evapi_pg_pool_requeue(struct evapi_pg_query *q)
{
	struct pg_pool *p = q->pool;

	q->link = NULL;
	q->retried = 1;
	place(p, q, 1);
}

void
evapi_pg_pool_cancel(struct evapi_pg_query *q)
{
	struct pg_pool *p;

	if (q == NULL || q->dropped)
		return;
	p = q->pool;
	q->dropped = 1;
	switch (q->state) {
	case Q_WAITING:
		wait_remove(p, q);
		open_remove(p, q);
		q->state = Q_DONE;
		query_free(q);
		break;
	case Q_SENT:
		/* Still in a pipeline: freed when its result comes. */
		open_remove(p, q);
		evapi_pg_link_dropped(q->link, q);
		break;
	case Q_FAILING:
		/* on_soon delivers nothing for it, then frees it. */
		break;
	default:
		break;
	}
}

/* ---- links tell the pool
 * ----------------------------------------------------------- */

/* On P's loop: another loop reached the database, so P's backoff is
 * moot: try now, and let queries wait for the attempt. */
static void
kick(void *arg)
{
	struct pg_pool *p = arg;
	unsigned i;

	if (p->stopping || !is_down(p))
		return;
	p->down_until = 0;
	for (i = 0; i < p->nlinks; i++)
		if (p->links[i].state == L_BACKOFF)
			evapi_pg_link_start(&p->links[i]);
}

void
evapi_pg_pool_link_ready(struct pg_pool *p, struct pg_link *l)
{
	unsigned i;

	(void)l;
	if (p->downs > 0)
		for (i = 0; i < p->pg->npools; i++)
			if (&p->pg->pools[i] != p)
				evapi_loop_call(p->pg->pools[i].loop, kick,
						&p->pg->pools[i]);
	p->down_until = 0;
	p->downs = 0;
	drain_queue(p);
}

void
evapi_pg_pool_link_down(struct pg_pool *p, struct pg_link *l, int lost)
{
	p->last_reason = l->last_reason;
	if (!lost && !any_ready(p) && !is_down(p))
		set_down(p, l->last_reason);
	if (coming_up(p)) {
		drain_queue(p);
		return;
	}
	fail_waiting(p);
}

/* ---- life
 * ------------------------------------------------------------------------- */

static void
on_start(evapi_timer *t, void *arg)
{
	struct pg_pool *p = arg;
	unsigned i;

	(void)t;
	p->pg->started = 1;
	for (i = 0; i < p->nlinks; i++)
		evapi_pg_link_start(&p->links[i]);
}

int
evapi_pg_pool_init(struct pg_pool *p, struct pg *pg, unsigned index,
		   unsigned nlinks, unsigned queue_max)
{
	unsigned i;

	memset(p, 0, sizeof(*p));
	p->pg = pg;
	p->index = index;
	p->loop = evapi_loop_at(index);
	p->queue_max = queue_max;
	p->last_reason = PGCHECK_CONNECT_FAILED;
	p->rng = evapi_pg_mono_ms() * 0x9E3779B97F4A7C15ULL ^
		 (uint64_t)(uintptr_t)p;
	if (p->rng == 0)
		p->rng = 1;
	p->links = calloc(nlinks, sizeof(*p->links));
	p->deadline = evapi_timer_new(p->loop, on_deadline, p);
	p->soon = evapi_timer_new(p->loop, on_soon, p);
	p->start = evapi_timer_new(p->loop, on_start, p);
	if (!p->links || !p->deadline || !p->soon || !p->start)
		return EVAPI_ERR;
	p->nlinks = nlinks;
	for (i = 0; i < nlinks; i++)
		if (evapi_pg_link_init(&p->links[i], p, i) != EVAPI_OK)
			return EVAPI_ERR;
	/* The connections start with the loop (never in --check-config or
	 * --migrate, whose loops do not run). */
	return evapi_timer_start(p->start, 0, 0);
}

/* Every loop has stopped: drop what is left without calling anyone (the
 * plugins that asked have ended; requests were answered by the host). */
void
evapi_pg_pool_free(struct pg_pool *p)
{
	struct evapi_pg_query *q;
	unsigned i;

	if (p == NULL)
		return;
	p->stopping = 1;
	for (i = 0; p->links && i < p->nlinks; i++)
		evapi_pg_link_free(&p->links[i]);
	free(p->links);
	while ((q = p->open_head) != NULL) {
		open_remove(p, q);
		query_free(q);
	}
	evapi_timer_free(p->deadline);
	evapi_timer_free(p->soon);
	evapi_timer_free(p->start);
	memset(p, 0, sizeof(*p));
}
