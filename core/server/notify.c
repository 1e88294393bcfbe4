/*
 * notify.c - readiness, status and watchdog messages to the service
 * manager (the sd_notify protocol, written out: no libsystemd in a
 * static musl binary). Messages are sent without blocking: a manager
 * that does not read them must never stall an event loop.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "notify.h"
#include "util/log.h"

int
evapi_notify_addr(const char *value, struct sockaddr_un *sa, socklen_t *len)
{
	size_t n = value ? strlen(value) : 0;

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	/* sun_path need not be NUL-terminated: the length says where it
	 * ends, so a path may fill it whole. */
	if (n < 2 || n > sizeof(sa->sun_path) ||
	    (value[0] != '/' && value[0] != '@'))
		return EVAPI_ERR;
	memcpy(sa->sun_path, value, n);
	/* "@name" is Linux's abstract namespace: a leading NUL byte. */
	if (value[0] == '@')
		sa->sun_path[0] = '\0';
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	return EVAPI_OK;
}

/* A decimal number without sign, spaces or overflow; 0 when it is not. */
static uint64_t
parse_u64(const char *s)
{
	uint64_t v = 0;

	if (s == NULL || *s == '\0')
		return 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
			return 0;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	return v;
}

uint64_t
evapi_notify_watchdog_usec(const char *usec, const char *pid, pid_t self)
{
	/* WATCHDOG_PID names the process the manager watches: a child
	 * that inherited the variables must not ping for its parent. */
	if (pid != NULL && *pid != '\0' && parse_u64(pid) != (uint64_t)self)
		return 0;
	return parse_u64(usec);
}

int
evapi_notify_open(struct evapi_notify *n)
{
	const char *path = getenv("NOTIFY_SOCKET");

	memset(n, 0, sizeof(*n));
	n->fd = -1;
	if (path == NULL || *path == '\0')
		return EVAPI_OK;
	if (evapi_notify_addr(path, &n->addr, &n->addrlen) != EVAPI_OK) {
		evapi_core_log(EVAPI_LOG_WARN,
			       "NOTIFY_SOCKET is not a unix socket path; "
			       "no readiness notification",
			       NULL);
		return EVAPI_ERR;
	}
	n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (n->fd < 0)
		return EVAPI_ERR;
	n->watchdog_usec = evapi_notify_watchdog_usec(
		getenv("WATCHDOG_USEC"), getenv("WATCHDOG_PID"), getpid());
	return EVAPI_OK;
}

int
evapi_notify_send(const struct evapi_notify *n, const char *msg)
{
	ssize_t w;

	if (n->fd < 0)
		return EVAPI_OK;
	do
		w = sendto(n->fd, msg, strlen(msg), MSG_NOSIGNAL,
			   (const struct sockaddr *)&n->addr, n->addrlen);
	while (w < 0 && errno == EINTR);
	return w == (ssize_t)strlen(msg) ? EVAPI_OK : EVAPI_ERR;
}

int
evapi_notify_status(const struct evapi_notify *n, const char *fmt, ...)
{
	char msg[256] = "STATUS=";
	va_list ap;

	if (n->fd < 0)
		return EVAPI_OK;
	va_start(ap, fmt);
	vsnprintf(msg + 7, sizeof(msg) - 7, fmt, ap);
	va_end(ap);
	return evapi_notify_send(n, msg);
}

void
evapi_notify_close(struct evapi_notify *n)
{
	if (n->fd >= 0)
		close(n->fd);
	n->fd = -1;
}
