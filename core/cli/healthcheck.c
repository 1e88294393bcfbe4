/*
 * healthcheck.c - `evapi --healthcheck`: the image's own HEALTHCHECK client.
 *
 * Scratch images have no shell, curl or wget, so the binary probes itself:
 * it reads the same PORT (PROBE_PORT when set: the main port may be
 * saturated on purpose by an attacker) and BIND_ADDRESS as the server,
 * sends GET HEALTHCHECK_PATH (default /health)
 * to the loopback address (or to BIND_ADDRESS when it is a specific
 * address), and exits 0 on 2xx, 1 otherwise. Plain blocking sockets with
 * poll() deadlines: no event loop, no DNS, no file needed.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "util/clock.h"

static long
now_ms(void)
{
	return (long)evapi_now_ms();
}

static int
wait_fd(int fd, short events, long deadline)
{
	struct pollfd p = {fd, events, 0};
	long left = deadline - now_ms();
	int rc;

	if (left <= 0)
		return -1;
	do {
		rc = poll(&p, 1, (int)left);
	} while (rc < 0 && errno == EINTR);
	return rc == 1 ? 0 : -1;
}

static unsigned
probe_port(const struct evapi_config *cfg)
{
	return cfg->probe_port ? cfg->probe_port : cfg->port;
}

/* The address to probe: the wildcard means "this host". */
static int
target(const struct evapi_config *cfg, struct sockaddr_storage *ss,
       socklen_t *len)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, cfg->bind_address, &in4->sin_addr) == 1) {
		if (in4->sin_addr.s_addr == htonl(INADDR_ANY))
			in4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)probe_port(cfg));
		*len = sizeof(*in4);
		return 0;
	}
	if (inet_pton(AF_INET6, cfg->bind_address, &in6->sin6_addr) == 1) {
		if (IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr))
			in6->sin6_addr = in6addr_loopback;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)probe_port(cfg));
		*len = sizeof(*in6);
		return 0;
	}
	return -1;
}

static int
connect_by(int fd, const struct sockaddr_storage *ss, socklen_t len,
	   long deadline)
{
	int err = 0;
	socklen_t elen = sizeof(err);

	if (connect(fd, (const struct sockaddr *)ss, len) == 0)
		return 0;
	if (errno != EINPROGRESS)
		return -1;
	if (wait_fd(fd, POLLOUT, deadline) != 0)
		return -1;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0 || err != 0)
		return -1;
	return 0;
}

static int
exchange(const struct evapi_config *cfg, int fd, long deadline, char *buf,
	 size_t buflen)
{
	char req[512];
	size_t got = 0;
	int len;
	ssize_t n;

	len = snprintf(req, sizeof(req),
		       "GET %s HTTP/1.0\r\nHost: localhost\r\n"
		       "User-Agent: evapi-healthcheck\r\n\r\n",
		       cfg->healthcheck_path);
	if (len <= 0 || (size_t)len >= sizeof(req) ||
	    wait_fd(fd, POLLOUT, deadline) != 0 ||
	    send(fd, req, (size_t)len, MSG_NOSIGNAL) != (ssize_t)len)
		return -1;
	/* The status line is all we need: "HTTP/1.x NNN". */
	while (got < 12) {
		if (wait_fd(fd, POLLIN, deadline) != 0)
			return -1;
		n = recv(fd, buf + got, buflen - 1 - got, 0);
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	buf[got] = '\0';
	return 0;
}

int
evapi_healthcheck(const struct evapi_config *cfg)
{
	long deadline = now_ms() + (long)cfg->healthcheck_timeout_ms;
	struct sockaddr_storage ss;
	socklen_t len;
	char buf[256];
	int fd, ok = 0;

	if (target(cfg, &ss, &len) != 0)
		return 1;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 1;
	if (connect_by(fd, &ss, len, deadline) == 0 &&
	    exchange(cfg, fd, deadline, buf, sizeof(buf)) == 0)
		ok = strncmp(buf, "HTTP/1.", 7) == 0 && buf[8] == ' ' &&
		     buf[9] == '2';
	close(fd);
	if (!ok)
		fprintf(stderr, "evapi: healthcheck failed: no 2xx from "
			"%s on port %u\n", cfg->healthcheck_path,
			probe_port(cfg));
	return ok ? 0 : 1;
}
