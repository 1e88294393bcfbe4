/*
 * listen.c - the listening sockets: one per worker on PORT (SO_REUSEPORT
 * when there are several, so the kernel spreads connections over the
 * loops), and PROBE_PORT's on loop 0.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/http.h>

#include "http/accept.h"
#include "http/conn.h"
#include "http/evhttp-glue.h"
#include "server.h"
#include "util/log.h"

struct addr {
	struct sockaddr_storage ss;
	socklen_t len;
};

static int
make_addr(const char *ip, unsigned port, struct addr *a)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)&a->ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a->ss;

	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, ip, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		a->len = sizeof(*in4);
		return EVAPI_OK;
	}
	if (inet_pton(AF_INET6, ip, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		a->len = sizeof(*in6);
		return EVAPI_OK;
	}
	return EVAPI_ERR;
}

static int
open_listener(const struct addr *a, int reuseport)
{
	int one = 1, fd, e;

	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* Accepted sockets inherit TCP_NODELAY on Linux: replies are written
	 * whole, so Nagle would only add a delayed-ACK stall per response. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (reuseport &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0)
		goto fail;
	if (bind(fd, (const struct sockaddr *)&a->ss, a->len) != 0)
		goto fail;
	if (listen(fd, 1024) != 0)
		goto fail;
	return fd;
fail:
	e = errno;
	close(fd);
	errno = e;
	return -1;
}

/* One line naming PORT (or PROBE_PORT), BIND_ADDRESS and why; exit 78. */
static void
listen_failed(const struct evapi_config *cfg, const char *name, unsigned port)
{
	const char *hint = errno == EADDRINUSE ? "the address is already in use"
			 : errno == EACCES ? "permission denied (a port below "
					     "1024 needs privileges)"
			 : errno == EADDRNOTAVAIL
				 ? "the address is not on this host"
				 : strerror(errno);

	evapi_die_config("configuration error: cannot listen on "
			 "BIND_ADDRESS=%s %s=%u: %s",
			 cfg->bind_address, name, port, hint);
}

/* ---- sockets from the service manager (activation.c) ------------------ */

/* PORT (or PROBE_PORT) and BIND_ADDRESS become the inherited socket's,
 * so the start line and --healthcheck name what is really served. */
static void
describe_inherited(int fd, char *addr, size_t addrlen, unsigned *port)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	const void *ip;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return;
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

		ip = &in6->sin6_addr;
		*port = ntohs(in6->sin6_port);
	} else {
		struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;

		ip = &in4->sin_addr;
		*port = ntohs(in4->sin_port);
	}
	if (addr != NULL)
		inet_ntop(ss.ss_family, ip, addr, (socklen_t)addrlen);
}

/* A socket filter a drain attached (http/accept.c drops new handshakes
 * while the listener closes) would outlive evapi on a socket the manager
 * keeps, and the next evapi would never see a connection. */
static void
detach_filter(int fd)
{
	int zero = 0;

	(void)setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, &zero, sizeof(zero));
}

void
evapi_listen_inherit(struct evapi_server *srv)
{
	struct evapi_activation *a = &srv->act;
	struct evapi_config *cfg = &srv->cfg;
	char err[256];

	if (evapi_activation_take(a, err, sizeof(err)) != EVAPI_OK)
		evapi_die_config("configuration error: %s", err);
	if (a->main_fd >= 0) {
		detach_filter(a->main_fd);
		describe_inherited(a->main_fd, cfg->bind_address,
				   sizeof(cfg->bind_address), &cfg->port);
	}
	if (a->probe_fd >= 0) {
		detach_filter(a->probe_fd);
		describe_inherited(a->probe_fd, NULL, 0, &cfg->probe_port);
	}
}

void
evapi_listen_release(struct evapi_server *srv)
{
	int *fds[] = {&srv->act.main_fd, &srv->act.probe_fd};
	size_t i;

	for (i = 0; i < 2; i++) {
		if (*fds[i] < 0)
			continue;
		detach_filter(*fds[i]);
		close(*fds[i]);
		*fds[i] = -1;
	}
}

/* Every loop accepts from its own duplicate of the one inherited socket:
 * they share its queue (the manager bound it; nothing can bind another
 * with SO_REUSEPORT next to it without privileges). evhttp closes the
 * duplicates; the original is kept until evapi_listen_release. */
static void
share_inherited(struct evapi_server *srv)
{
	unsigned i;

	for (i = 0; i < srv->nworkers; i++) {
		srv->workers[i].fd =
			fcntl(srv->act.main_fd, F_DUPFD_CLOEXEC, 3);
		if (srv->workers[i].fd < 0)
			evapi_die_config("cannot duplicate the inherited "
					 "socket: %s",
					 strerror(errno));
	}
}

static void
open_probe(struct evapi_server *srv)
{
	const struct evapi_config *cfg = &srv->cfg;
	struct addr p;

	if (srv->act.probe_fd >= 0) {
		srv->probe.fd = fcntl(srv->act.probe_fd, F_DUPFD_CLOEXEC, 3);
		if (srv->probe.fd < 0)
			evapi_die_config("cannot duplicate the inherited "
					 "probe socket: %s",
					 strerror(errno));
		return;
	}
	make_addr(cfg->bind_address, cfg->probe_port, &p);
	srv->probe.fd = open_listener(&p, 0);
	if (srv->probe.fd < 0)
		listen_failed(cfg, "PROBE_PORT", cfg->probe_port);
}

void
evapi_listen_open(struct evapi_server *srv)
{
	const struct evapi_config *cfg = &srv->cfg;
	struct addr a;
	unsigned i;
	int first;

	if (srv->act.main_fd >= 0) {
		share_inherited(srv);
		if (cfg->probe_port != 0)
			open_probe(srv);
		return;
	}
	if (make_addr(cfg->bind_address, cfg->port, &a) != EVAPI_OK)
		evapi_die_config("configuration error: BIND_ADDRESS=%s",
				 cfg->bind_address);
	/* SO_REUSEPORT would let a second evapi silently share the port: bind
	 * once without it first, so "in use" is reported as such. */
	first = open_listener(&a, 0);
	if (first < 0)
		listen_failed(cfg, "PORT", cfg->port);
	if (cfg->probe_port != 0)
		open_probe(srv);
	if (srv->nworkers == 1) {
		srv->workers[0].fd = first;
		return;
	}
	close(first);
	for (i = 0; i < srv->nworkers; i++) {
		srv->workers[i].fd = open_listener(&a, 1);
		if (srv->workers[i].fd < 0)
			listen_failed(cfg, "PORT", cfg->port);
	}
}

static int
attach(struct evhttp *http, evutil_socket_t *fd,
       struct evhttp_bound_socket **bound, struct evapi_site *site)
{
	*bound = evhttp_accept_socket_with_handle(http, *fd);
	if (*bound == NULL)
		return EVAPI_ERR;
	/* evhttp owns (and closes) the socket from now on. */
	*fd = -1;
	site->lev = NULL;
	evapi_glue_listener(site, evhttp_bound_socket_get_listener(*bound));
	evapi_accept_set_early(site, 1);
	return EVAPI_OK;
}

int
evapi_listen_attach(struct evapi_server *srv)
{
	unsigned i;

	for (i = 0; i < srv->nworkers; i++) {
		struct evapi_worker *w = &srv->workers[i];

		if (attach(w->http, &w->fd, &w->bound, w->site) != EVAPI_OK)
			return EVAPI_ERR;
		w->sites_open = 1;
	}
	if (srv->probe.fd < 0)
		return EVAPI_OK;
	if (attach(srv->probe.http, &srv->probe.fd, &srv->probe.bound,
		   srv->probe.site) != EVAPI_OK)
		return EVAPI_ERR;
	srv->workers[0].sites_open++;
	return EVAPI_OK;
}
