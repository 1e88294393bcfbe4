/*
 * limit.c - MAX_CONNECTIONS for a whole port, over every event loop.
 *
 * The kernel spreads SO_REUSEPORT connections over the loops unevenly, so
 * a cap split into equal shares would evict below the cap the user set.
 * One atomic counter per port counts every open descriptor; a connection
 * accepted above the cap evicts the oldest HEAD or IDLE connection of the
 * whole port, whichever loop holds it (that loop is asked through an event
 * it runs itself: no connection is ever touched from another thread).
 *
 * At the cap, one newcomer may take the place of one evicted connection;
 * the next waits (the kernel's backlog holds it) until that descriptor is
 * closed, so at most cap + 1 descriptors are held while evictions keep
 * up. When every connection is busy, the listeners wait until one closes.
 */
#include "config.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "conn.h"

#define MAX_SITES 260 /* EVAPI_MAX_WORKERS and a probe site */

/* One cache line each: every request may update its loop's slot. */
struct limit_site {
	struct evapi_site *site;
	_Atomic uint64_t oldest; /* its oldest evictable connection; 0: none */
} __attribute__((aligned(64)));

struct evapi_limit {
	unsigned long cap;
	atomic_ulong open;
	atomic_ulong evictions; /* asked for, descriptor not closed yet */
	atomic_ulong paused;    /* listeners waiting for room */
	size_t nsites;
	struct limit_site sites[MAX_SITES];
};

struct evapi_limit *
evapi_limit_new(unsigned long cap)
{
	struct evapi_limit *l = calloc(1, sizeof(*l));

	if (l != NULL)
		l->cap = cap;
	return l;
}

void
evapi_limit_free(struct evapi_limit *l)
{
	free(l);
}

/* Before any loop runs. */
void
evapi_limit_add_site(struct evapi_limit *l, struct evapi_site *s)
{
	if (l->nsites < MAX_SITES)
		l->sites[l->nsites++].site = s;
}

unsigned long
evapi_limit_open(const struct evapi_limit *l)
{
	return atomic_load(&l->open);
}

unsigned long
evapi_limit_cap(const struct evapi_limit *l)
{
	return l->cap;
}

static struct limit_site *
slot_of(struct evapi_limit *l, const struct evapi_site *s)
{
	size_t i;

	for (i = 0; i < l->nsites; i++)
		if (l->sites[i].site == s)
			return &l->sites[i];
	return NULL;
}

void
evapi_limit_oldest(struct evapi_limit *l, struct evapi_site *s, uint64_t since)
{
	struct limit_site *ls = slot_of(l, s);

	if (ls != NULL)
		atomic_store(&ls->oldest, since);
}

static int
any_evictable(const struct evapi_limit *l)
{
	size_t i;

	for (i = 0; i < l->nsites; i++)
		if (atomic_load(&l->sites[i].oldest) != 0)
			return 1;
	return 0;
}

int
evapi_limit_may_accept(const struct evapi_limit *l)
{
	if (l->cap == 0 || atomic_load(&l->open) < l->cap)
		return 1;
	return atomic_load(&l->evictions) == 0 && any_evictable(l);
}

/* The site whose oldest evictable connection is the oldest of all. */
static struct evapi_site *
oldest_site(struct evapi_limit *l)
{
	struct evapi_site *best = NULL;
	uint64_t best_t = 0;
	size_t i;

	for (i = 0; i < l->nsites; i++) {
		uint64_t t = atomic_load(&l->sites[i].oldest);

		if (t != 0 && (best == NULL || t < best_t)) {
			best = l->sites[i].site;
			best_t = t;
		}
	}
	return best;
}

void
evapi_limit_accepted(struct evapi_limit *l, struct evapi_site *s)
{
	unsigned long open = atomic_fetch_add(&l->open, 1) + 1;
	struct evapi_site *target;

	if (l->cap == 0 || open <= l->cap)
		return;
	target = oldest_site(l);
	if (target == NULL)
		return; /* everything is busy: the listeners wait */
	atomic_fetch_add(&l->evictions, 1);
	if (target == s) {
		if (!evapi_site_evict_oldest(s))
			atomic_fetch_sub(&l->evictions, 1);
		return;
	}
	/* The other loop evicts its own connection (evict_ev, conn.c). */
	atomic_fetch_add(&target->evict_asked, 1);
	event_active(target->evict_ev, EV_TIMEOUT, 0);
}

/* An eviction asked of S could not happen or is over. */
void
evapi_limit_eviction_done(struct evapi_limit *l)
{
	unsigned long e = atomic_load(&l->evictions);

	while (e > 0 && !atomic_compare_exchange_weak(&l->evictions, &e, e - 1))
		;
	evapi_limit_wake(l);
}

void
evapi_limit_closed(struct evapi_limit *l, struct evapi_site *s)
{
	(void)s;
	atomic_fetch_sub(&l->open, 1);
	evapi_limit_wake(l);
}

/* Listeners that paused for room re-check (each on its own loop). */
void
evapi_limit_wake(struct evapi_limit *l)
{
	size_t i;

	if (atomic_load(&l->paused) == 0)
		return;
	for (i = 0; i < l->nsites; i++)
		if (atomic_load(&l->sites[i].site->waiting_room))
			event_active(l->sites[i].site->wake_ev, EV_TIMEOUT, 0);
}

void
evapi_limit_pause(struct evapi_limit *l, struct evapi_site *s, int paused)
{
	int was = atomic_exchange(&s->waiting_room, paused);

	if (was && !paused)
		atomic_fetch_sub(&l->paused, 1);
	else if (!was && paused)
		atomic_fetch_add(&l->paused, 1);
}
