/*
 * watchdog.c - the loops' heartbeat. A loop beats from a timer of its
 * own, so a handler that blocks its loop stops that loop's beat; loop 0
 * pings every half watchdog interval, and only when every loop beat
 * since the previous ping. Beats come twice as often as pings, so a
 * healthy loop beats at least once between two pings whatever the
 * phase of the timers; a stuck loop makes the manager miss two pings
 * in a row and restart the service.
 */
#include "config.h"

#include <stdlib.h>

#include <event2/event.h>

#include "server.h"
#include "watchdog.h"

static struct event **beat_evs, *ping_ev;
static unsigned long *beats, *seen, *now;
static unsigned nloops;

int
evapi_watchdog_all_beat(const unsigned long *cur, unsigned long *last,
			unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++)
		if (cur[i] == last[i])
			return 0;
	for (i = 0; i < n; i++)
		last[i] = cur[i];
	return 1;
}

static void
on_beat(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	__atomic_fetch_add((unsigned long *)arg, 1, __ATOMIC_RELAXED);
}

static void
on_ping(evutil_socket_t fd, short what, void *arg)
{
	struct evapi_server *srv = arg;
	unsigned i;

	(void)fd;
	(void)what;
	for (i = 0; i < nloops; i++) {
		now[i] = __atomic_load_n(&beats[i], __ATOMIC_RELAXED);
		/* A loop that ended (drained) has nothing left to watch. */
		if (srv->workers[i].loop.stopped)
			now[i] = seen[i] + 1;
	}
	if (evapi_watchdog_all_beat(now, seen, nloops))
		evapi_notify_send(&srv->notify, "WATCHDOG=1");
}

static struct timeval
usec_tv(uint64_t usec)
{
	struct timeval tv = {(time_t)(usec / 1000000),
			     (suseconds_t)(usec % 1000000)};

	return tv;
}

int
evapi_watchdog_start(struct evapi_server *srv)
{
	uint64_t usec = srv->notify.watchdog_usec;
	struct timeval beat = usec_tv(usec / 4), ping = usec_tv(usec / 2);
	unsigned i;

	if (usec == 0 || srv->notify.fd < 0)
		return EVAPI_OK;
	/* Timers of a few microseconds would spin the loops. */
	if (usec < 4000)
		beat = usec_tv(1000), ping = usec_tv(2000);
	nloops = srv->nworkers;
	beat_evs = calloc(nloops, sizeof(*beat_evs));
	beats = calloc(nloops, sizeof(*beats));
	seen = calloc(nloops, sizeof(*seen));
	now = calloc(nloops, sizeof(*now));
	if (!beat_evs || !beats || !seen || !now)
		return EVAPI_ERR;
	for (i = 0; i < nloops; i++) {
		beat_evs[i] = event_new(srv->workers[i].loop.base, -1,
					EV_PERSIST, on_beat, &beats[i]);
		if (beat_evs[i] == NULL || event_add(beat_evs[i], &beat) != 0)
			return EVAPI_ERR;
	}
	ping_ev = event_new(srv->workers[0].loop.base, -1, EV_PERSIST, on_ping,
			    srv);
	if (ping_ev == NULL || event_add(ping_ev, &ping) != 0)
		return EVAPI_ERR;
	return EVAPI_OK;
}

void
evapi_watchdog_free(void)
{
	unsigned i;

	for (i = 0; beat_evs && i < nloops; i++)
		if (beat_evs[i] != NULL)
			event_free(beat_evs[i]);
	if (ping_ev != NULL)
		event_free(ping_ev);
	free(beat_evs);
	free(beats);
	free(seen);
	free(now);
	beat_evs = NULL;
	ping_ev = NULL;
	beats = seen = now = NULL;
	nloops = 0;
}
