/*
 * notify.h - the service manager's notification protocol (systemd's
 * sd_notify): datagrams of "KEY=value" lines to the socket NOTIFY_SOCKET
 * names, and the watchdog interval WATCHDOG_USEC asks for (notify.c).
 * Without NOTIFY_SOCKET every call is a no-op.
 */
#ifndef EVAPI_SERVER_NOTIFY_H
#define EVAPI_SERVER_NOTIFY_H

#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include <evapi/plugin.h> /* EVAPI_OK, EVAPI_ERR */

struct evapi_notify {
	int fd; /* -1: no service manager listens */
	struct sockaddr_un addr;
	socklen_t addrlen;
	uint64_t watchdog_usec; /* 0: no watchdog */
};

/* NOTIFY_SOCKET's value ("/path" or "@abstract") as an address.
 * EVAPI_ERR for anything else (relative path, too long, empty). */
int evapi_notify_addr(const char *value, struct sockaddr_un *sa,
		      socklen_t *len);

/* WATCHDOG_USEC for process SELF: the interval in microseconds, or 0
 * when unset, invalid, or meant for another process (WATCHDOG_PID). */
uint64_t evapi_notify_watchdog_usec(const char *usec, const char *pid,
				    pid_t self);

/* From the environment; n->fd is -1 when there is nothing to talk to.
 * EVAPI_ERR (with n->fd -1) when NOTIFY_SOCKET is set but unusable. */
int evapi_notify_open(struct evapi_notify *n);
/* One datagram, never blocking; EVAPI_ERR when it could not be sent. */
int evapi_notify_send(const struct evapi_notify *n, const char *msg);
/* "STATUS=" followed by the formatted text. */
int evapi_notify_status(const struct evapi_notify *n, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void evapi_notify_close(struct evapi_notify *n);

#endif
