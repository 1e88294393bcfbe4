/*
 * watchdog.h - WATCHDOG=1 from the event loops themselves (watchdog.c):
 * each loop counts beats on a timer, and loop 0 pings the service
 * manager only when every loop beat since its last ping, so one stuck
 * loop is enough for the manager to restart the service.
 */
#ifndef EVAPI_SERVER_WATCHDOG_H
#define EVAPI_SERVER_WATCHDOG_H

#include <stdint.h>

struct evapi_server;

/* Did every one of the N loops beat since the last check? NOW holds
 * each loop's beat count, SEEN the counts of the last check (updated
 * when the answer is yes). */
int evapi_watchdog_all_beat(const unsigned long *now, unsigned long *seen,
			    unsigned n);

/* Timers on every loop when the manager asked for a watchdog
 * (srv->notify.watchdog_usec): beats every quarter of the interval,
 * pings every half. EVAPI_ERR when they cannot be set up. */
int evapi_watchdog_start(struct evapi_server *srv);
/* Before the loops are freed. */
void evapi_watchdog_free(void);

#endif
