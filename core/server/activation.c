/*
 * activation.c - socket activation: the service manager binds the port
 * (port 80 needs no privilege in evapi then) and passes the listening
 * socket as descriptor 3; evapi serves it instead of binding its own.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <evapi/plugin.h>

#include "activation.h"

/* A decimal count without sign or spaces, at most MAX; -1 otherwise. */
static long
parse_count(const char *s, long max)
{
	long v = 0;

	if (s == NULL || *s == '\0')
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
		if (v > max)
			return -1;
	}
	return v;
}

int
evapi_activation_count(const char *pid, const char *fds, pid_t self)
{
	long p, n;

	if (pid == NULL || *pid == '\0' || fds == NULL || *fds == '\0')
		return 0;
	p = parse_count(pid, 0x7fffffffL);
	/* Variables inherited from a parent that was activated. */
	if (p != (long)self)
		return p < 0 ? -1 : 0;
	n = parse_count(fds, 64);
	return n < 0 ? -1 : (int)n;
}

/* Is the I-th ':'-separated word of NAMES "probe"? */
static int
named_probe(const char *names, int i)
{
	const char *w = names;
	size_t len;

	while (i-- > 0 && w != NULL) {
		w = strchr(w, ':');
		if (w != NULL)
			w++;
	}
	if (w == NULL)
		return 0;
	len = strcspn(w, ":");
	return len == 5 && strncmp(w, "probe", 5) == 0;
}

int
evapi_activation_pick(int n, const char *names, int *main_i, int *probe_i)
{
	int i;

	*main_i = *probe_i = -1;
	if (n < 0 || n > 2)
		return EVAPI_ERR;
	for (i = 0; i < n; i++) {
		int probe = names != NULL && *names != '\0'
				    ? named_probe(names, i)
				    : i == 1;
		int *slot = probe ? probe_i : main_i;

		if (*slot >= 0)
			return EVAPI_ERR;
		*slot = i;
	}
	return n == 0 || *main_i >= 0 ? EVAPI_OK : EVAPI_ERR;
}

/* Is FD a listening TCP socket? */
static int
is_tcp_listener(int fd)
{
	int type = 0, listening = 0;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(type);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 ||
	    type != SOCK_STREAM)
		return 0;
	len = sizeof(listening);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 ||
	    !listening)
		return 0;
	len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return 0;
	return ss.ss_family == AF_INET || ss.ss_family == AF_INET6;
}

/* A listening TCP socket, made non-blocking and close-on-exec. */
static int
adopt(int fd, char *err, size_t errlen)
{
	int fl;

	if (!is_tcp_listener(fd)) {
		snprintf(err, errlen,
			 "descriptor %d from LISTEN_FDS is not a listening "
			 "TCP socket",
			 fd);
		return EVAPI_ERR;
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
		snprintf(err, errlen, "descriptor %d: %s", fd, strerror(errno));
		return EVAPI_ERR;
	}
	return EVAPI_OK;
}

int
evapi_activation_take(struct evapi_activation *a, char *err, size_t errlen)
{
	int n = evapi_activation_count(getenv("LISTEN_PID"),
				       getenv("LISTEN_FDS"), getpid());
	int m, p;

	a->main_fd = a->probe_fd = -1;
	if (n < 0 || evapi_activation_pick(n, getenv("LISTEN_FDNAMES"), &m,
					   &p) != EVAPI_OK) {
		snprintf(err, errlen,
			 "LISTEN_FDS=%.16s LISTEN_FDNAMES=%.64s: expected one "
			 "socket for PORT and at most one named \"probe\"",
			 getenv("LISTEN_FDS") ? getenv("LISTEN_FDS") : "",
			 getenv("LISTEN_FDNAMES") ? getenv("LISTEN_FDNAMES")
						  : "");
		return EVAPI_ERR;
	}
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (m >= 0 &&
	    adopt(EVAPI_LISTEN_FDS_START + m, err, errlen) != EVAPI_OK)
		return EVAPI_ERR;
	if (p >= 0 &&
	    adopt(EVAPI_LISTEN_FDS_START + p, err, errlen) != EVAPI_OK)
		return EVAPI_ERR;
	a->main_fd = m >= 0 ? EVAPI_LISTEN_FDS_START + m : -1;
	a->probe_fd = p >= 0 ? EVAPI_LISTEN_FDS_START + p : -1;
	return EVAPI_OK;
}
