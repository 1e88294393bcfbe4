/*
 * listen.c - the listening sockets: one per worker on PORT (SO_REUSEPORT
 * when there are several, so the kernel spreads connections over the
 * loops), and PROBE_PORT's on loop 0.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
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

void
evapi_listen_open(struct evapi_server *srv)
{
	const struct evapi_config *cfg = &srv->cfg;
	struct addr a;
	unsigned i;
	int first;

	if (make_addr(cfg->bind_address, cfg->port, &a) != EVAPI_OK)
		evapi_die_config("configuration error: BIND_ADDRESS=%s",
				 cfg->bind_address);
	/* SO_REUSEPORT would let a second evapi silently share the port: bind
	 * once without it first, so "in use" is reported as such. */
	first = open_listener(&a, 0);
	if (first < 0)
		listen_failed(cfg, "PORT", cfg->port);
	if (cfg->probe_port != 0) {
		struct addr p;

		make_addr(cfg->bind_address, cfg->probe_port, &p);
		srv->probe.fd = open_listener(&p, 0);
		if (srv->probe.fd < 0)
			listen_failed(cfg, "PROBE_PORT", cfg->probe_port);
	}
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
