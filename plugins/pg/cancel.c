/*
 * cancel.c - statements cancelled on the server (pool.h).
 *
 * libpq 15's PQcancel opens a connection to the server and waits for it:
 * it must never run on a loop. One thread, started with the first cancel,
 * sends them in order; a server that does not answer delays only the
 * cancels behind it (the queries themselves were answered already).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pthread_timedjoin_np */
#endif
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "pool.h"

#define MAX_QUEUED 256 /* more: the oldest are dropped */
#define STOP_WAIT_MS 1000

struct pg_cancel_queue {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	int started, stopping;
	PGcancel *items[MAX_QUEUED];
	unsigned head, n;
};

static void *
run(void *arg)
{
	struct pg_cancel_queue *q = arg;
	char err[256];

	pthread_mutex_lock(&q->mu);
	for (;;) {
		PGcancel *c;

		while (q->n == 0 && !q->stopping)
			pthread_cond_wait(&q->cv, &q->mu);
		if (q->stopping)
			break;
		c = q->items[q->head];
		q->head = (q->head + 1) % MAX_QUEUED;
		q->n--;
		pthread_mutex_unlock(&q->mu);
		(void)PQcancel(c, err, sizeof(err));
		PQfreeCancel(c);
		pthread_mutex_lock(&q->mu);
	}
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

/* The thread may outlive fini (a cancel to a server that does not answer
 * waits for the kernel's connect timeout): keep this plugin's code mapped
 * after dlclose. Nothing to do when it is compiled in. */
static void
pin_module(void)
{
	Dl_info info;

	if (dladdr((void *)pin_module, &info) != 0 && info.dli_fname != NULL)
		(void)dlopen(info.dli_fname,
			     RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
}

struct pg_cancel_queue *
evapi_pg_cancel_start(void)
{
	struct pg_cancel_queue *q = calloc(1, sizeof(*q));

	if (q == NULL)
		return NULL;
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
	return q;
}

void
evapi_pg_cancel_send(struct pg_cancel_queue *q, PGcancel *cancel)
{
	PGcancel *old = NULL;

	if (q == NULL) {
		PQfreeCancel(cancel);
		return;
	}
	pthread_mutex_lock(&q->mu);
	if (!q->started && !q->stopping) {
		pin_module();
		if (pthread_create(&q->thread, NULL, run, q) == 0)
			q->started = 1;
	}
	if (!q->started || q->stopping) {
		pthread_mutex_unlock(&q->mu);
		PQfreeCancel(cancel);
		return;
	}
	if (q->n == MAX_QUEUED) {
		old = q->items[q->head];
		q->head = (q->head + 1) % MAX_QUEUED;
		q->n--;
	}
	q->items[(q->head + q->n) % MAX_QUEUED] = cancel;
	q->n++;
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
	if (old != NULL)
		PQfreeCancel(old);
}

/* At the end: cancels not sent yet are dropped; one being sent is waited
 * for up to STOP_WAIT_MS, then left to the process's exit (the queue is
 * leaked with it: the thread still uses it). */
void
evapi_pg_cancel_stop(struct pg_cancel_queue *q)
{
	struct timespec until;

	if (q == NULL)
		return;
	pthread_mutex_lock(&q->mu);
	q->stopping = 1;
	while (q->n > 0) {
		PQfreeCancel(q->items[q->head]);
		q->head = (q->head + 1) % MAX_QUEUED;
		q->n--;
	}
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
	if (q->started) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += (long)STOP_WAIT_MS % 1000 * 1000000L;
		until.tv_sec +=
			STOP_WAIT_MS / 1000 + until.tv_nsec / 1000000000L;
		until.tv_nsec %= 1000000000L;
		if (pthread_timedjoin_np(q->thread, NULL, &until) != 0) {
			pthread_detach(q->thread);
			return;
		}
	}
	pthread_cond_destroy(&q->cv);
	pthread_mutex_destroy(&q->mu);
	free(q);
}
