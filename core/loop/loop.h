/*
 * loop.h - event loops as plugins see them (evapi_loop), with timers, io
 * watches, cross-loop calls and name resolution (loop.c). The server
 * makes one per worker.
 */
#ifndef EVAPI_LOOP_LOOP_H
#define EVAPI_LOOP_LOOP_H

#include <stdint.h>

#include <evapi/plugin.h>

struct event_base;
struct evdns_base;

struct evapi_loop {
	struct event_base *base;
	unsigned index;
	struct evdns_base *dns; /* made by the first evapi_resolve */
	volatile int stopped;   /* evapi_loop_call is refused */
	/* The last request id made on it, counted up in place as text
	 * (http/reqid.c): "<random>-<index>-<count>". */
	char reqid[48];
	unsigned char reqid_len, reqid_digits; /* where the count starts */
};

/* Every loop, for evapi_loop_at and evapi_main_loop (before they run). */
void evapi_loops_set(struct evapi_loop **loops, unsigned n);
/* The calling thread runs LOOP (NULL: none). */
void evapi_loop_enter(struct evapi_loop *loop);
/* Free what resolution made on LOOP (after it stopped). */
void evapi_loop_cleanup(struct evapi_loop *loop);

#endif
