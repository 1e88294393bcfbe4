/*
 * activation.h - listening sockets handed over by the service manager
 * (systemd's socket activation: LISTEN_PID, LISTEN_FDS and, optionally,
 * LISTEN_FDNAMES; descriptors from 3 on). activation.c.
 */
#ifndef EVAPI_SERVER_ACTIVATION_H
#define EVAPI_SERVER_ACTIVATION_H

#include <stddef.h>
#include <sys/types.h>

#include <evapi/plugin.h> /* EVAPI_OK, EVAPI_ERR */

#define EVAPI_LISTEN_FDS_START 3

struct evapi_activation {
	int main_fd;  /* PORT's socket; -1: evapi binds its own */
	int probe_fd; /* PROBE_PORT's socket; -1: none inherited */
};

/* How many descriptors LISTEN_PID and LISTEN_FDS hand to process SELF:
 * 0 when unset or meant for another process, -1 when malformed. */
int evapi_activation_count(const char *pid, const char *fds, pid_t self);

/* Which of N sockets is PORT's and which PROBE_PORT's (-1: none), by
 * LISTEN_FDNAMES (':'-separated; "probe" names the probe socket, any
 * other name the main one) or, without names, by order. EVAPI_ERR when
 * the set does not fit (no main socket, two of a kind, N > 2). */
int evapi_activation_pick(int n, const char *names, int *main_i, int *probe_i);

/* Take the sockets from the environment (then unset LISTEN_*, so
 * nothing evapi starts takes them too): checked to be listening TCP
 * sockets, made non-blocking and close-on-exec. EVAPI_ERR with one line
 * in ERR. */
int evapi_activation_take(struct evapi_activation *a, char *err, size_t errlen);

#endif
