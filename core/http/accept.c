/*
 * accept.c - a new connection, before evhttp gets it, and the end of
 * accepting at the drain.
 *
 * A new connection waits up to EARLY_WAIT_MS for its first bytes, counted
 * against MAX_CONNECTIONS. If they are one whole request that closes the
 * connection (Connection: close, or HTTP/1.0 without keep-alive), it is
 * answered right there: one recv, one sendmsg, one close, as nginx does,
 * and evhttp's per-connection work (its connection object, getnameinfo,
 * timers) is never paid. A probe or a load balancer without keep-alive
 * opens a connection per request. Everything else goes to evhttp's accept
 * callback with the bytes already read (conn.h: the connection then
 * starts in DIRECT mode).
 */
#include "config.h"

#include <errno.h>
#if defined(__has_include) && __has_include(<linux/filter.h>)
#include <linux/filter.h>
#else
/* The static build's libc (musl) ships no kernel headers: the classic BPF
 * socket filter ABI, as <linux/filter.h> defines it. */
#include <stdint.h>
struct sock_filter {
	uint16_t code;
	uint8_t jt, jf;
	uint32_t k;
};
struct sock_fprog {
	unsigned short len;
	struct sock_filter *filter;
};
#define BPF_LD 0x00
#define BPF_ALU 0x04
#define BPF_JMP 0x05
#define BPF_RET 0x06
#define BPF_B 0x10
#define BPF_ABS 0x20
#define BPF_AND 0x50
#define BPF_JEQ 0x10
#define BPF_K 0x00
#define BPF_STMT(code, k) {(unsigned short)(code), 0, 0, k}
#define BPF_JUMP(code, k, jt, jf) {(unsigned short)(code), jt, jf, k}
#endif
#ifndef SO_ATTACH_FILTER
#define SO_ATTACH_FILTER 26
#endif
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include "accept.h"
#include "conn.h"
#include "dispatch.h"
#include "request.h"
#include "serve.h"

/* How long a new connection may take to send its first bytes before evhttp
 * takes it anyway (its HEADER_TIMEOUT starts then). Clients send the
 * request right after the handshake; this only bounds the others. */
#define EARLY_WAIT_MS 100
/* The first read of a new connection. */
#define EARLY_READ_MAX 4096

/* ---- EARLY connections ------------------------------------------------------ */

static void
early_link(struct evapi_site *s, struct evapi_conn *c)
{
	c->early_prev = NULL;
	c->early_next = s->early;
	if (s->early != NULL)
		s->early->early_prev = c;
	s->early = c;
	s->early_n++;
}

static void
early_unlink(struct evapi_site *s, struct evapi_conn *c)
{
	if (c->early_prev != NULL)
		c->early_prev->early_next = c->early_next;
	else if (s->early == c)
		s->early = c->early_next;
	else
		return; /* not linked */
	if (c->early_next != NULL)
		c->early_next->early_prev = c->early_prev;
	c->early_prev = c->early_next = NULL;
	s->early_n--;
}

static void
drop(struct evapi_conn *c)
{
	early_unlink(c->site, c);
	evapi_conn_drop_early(c);
}

int
evapi_accept_adopt(struct evapi_conn *c)
{
	struct evapi_site *s = c->site;

	early_unlink(s, c);
	if (c->early_ev != NULL) {
		event_free(c->early_ev);
		c->early_ev = NULL;
	}
	if (s->evhttp_accept == NULL)
		return -1;
	s->capture = 1;
	s->captured = c;
	s->evhttp_accept(s->lev, c->fd, (struct sockaddr *)&c->sa, c->salen,
			 s->http);
	s->capture = 0;
	s->captured = NULL;
	if (c->bev == NULL) {
		/* evhttp gave up (out of memory) and closed the descriptor,
		 * or serves it untracked. */
		c->fd = -1;
		return -1;
	}
	/* evhttp may answer and free the connection before this returns:
	 * the close callback must be on it first. */
	evapi_site_attach_pending(s);
	evapi_site_arm_sweep(s);
	evapi_site_update_listener(s);
	return c->phase == EVAPI_PH_GONE ? -1 : 0;
}

/* Hand C to evhttp with the N bytes read so far (the gate read TOOK). */
static void
to_evhttp(struct evapi_conn *c, const char *data, size_t n, size_t took)
{
	if (evapi_accept_adopt(c) != 0) {
		if (c->bev == NULL)
			evapi_conn_drop_early(c);
		return;
	}
	if (n > 0) {
		c->prefed = took;
		evapi_serve_inject(c, data, n);
	}
}

/* One whole request that closes the connection, and nothing after it. */
static int
answerable_now(const struct evapi_conn *c, size_t took, size_t n)
{
	const struct evapi_msg *m = evapi_gate_front(&c->gate);

	return c->site->early_on && !evapi_http_draining && took == n &&
	       m != NULL && m->complete && m->next == NULL &&
	       m->head.close && !m->head.chunked && m->wire == n &&
	       c->gate.state == GATE_START;
}

static void
serve_now(struct evapi_conn *c, const char *data)
{
	struct evapi_msg *m = evapi_gate_take(&c->gate);
	struct evapi_request *req = evapi_request_of(m);

	if (m->body_len > 0 &&
	    evapi_request_set_body(req, data + m->head_end, (size_t)m->body_len,
				   1) != EVAPI_OK) {
		evapi_request_free(req);
		drop(c);
		return;
	}
	req->flags |= EVAPI_RQ_EARLY;
	evapi_dispatch(c, req);
	if (c->early_done) {
		drop(c);
		return;
	}
	if (c->bev != NULL || c->active == NULL)
		return; /* the answer leaves through evhttp's connection */
	/* The handler kept the request: evhttp takes the connection, and the
	 * answer goes out through it later. */
	req = c->active;
	if (evapi_accept_adopt(c) != 0) {
		evapi_serve_lost(c);
		if (c->bev == NULL)
			evapi_conn_drop_early(c);
		return;
	}
	evapi_conn_phase(c, EVAPI_PH_BUSY);
	evapi_serve_handler_returned(req);
}

static void
on_early_read(evutil_socket_t fd, short what, void *arg)
{
	struct evapi_conn *c = arg;
	char buf[EARLY_READ_MAX];
	ssize_t n;
	size_t took;

	if (!(what & EV_READ)) {
		to_evhttp(c, NULL, 0, 0);
		return;
	}
	do
		n = recv(fd, buf, sizeof(buf), 0);
	while (n < 0 && errno == EINTR);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
		drop(c); /* gone before it asked anything */
		return;
	}
	if (n < 0) {
		to_evhttp(c, NULL, 0, 0);
		return;
	}
	took = evapi_gate_feed(&c->gate, buf, (size_t)n);
	if (answerable_now(c, took, (size_t)n)) {
		serve_now(c, buf);
		return;
	}
	to_evhttp(c, buf, (size_t)n, took);
}

void
evapi_accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
		struct sockaddr *sa, int salen, void *arg)
{
	static const struct timeval wait = {0, EARLY_WAIT_MS * 1000};
	struct evapi_site *s = arg;
	struct evapi_conn *c = evapi_conn_new(s, fd, sa, salen);

	(void)lev;
	if (c == NULL) {
		evutil_closesocket(fd);
		return;
	}
	evapi_gate_init(&c->gate, &s->glim, evapi_msg_alloc, evapi_msg_release,
			NULL);
	if (s->early_on && s->evhttp_accept != NULL) {
		c->early_ev = event_new(s->base, fd, EV_READ, on_early_read, c);
		if (c->early_ev != NULL && event_add(c->early_ev, &wait) == 0) {
			early_link(s, c);
			evapi_site_update_listener(s);
			return;
		}
	}
	to_evhttp(c, NULL, 0, 0);
}

void
evapi_accept_set_early(struct evapi_site *s, int on)
{
	s->early_on = on && s->evhttp_accept != NULL;
}

/* ---- the end of accepting -------------------------------------------------------- */

struct closing {
	struct evapi_site *site;
	struct event *ev;
	void (*done)(struct evapi_site *s);
};

/* Drop new handshakes (a SYN without ACK) on the listening socket; the
 * ACKs that complete handshakes already under way still pass, so those
 * connections land in the queue and are accepted below. The filter sees
 * the TCP header at offset 0 (tcp_filter). */
static void
drop_syns(evutil_socket_t fd)
{
	static struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 13),
		BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0x12),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x02, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, 0),
		BPF_STMT(BPF_RET | BPF_K, 0xffffffffu),
	};
	struct sock_fprog prog = {sizeof(code) / sizeof(code[0]), code};

	(void)setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog));
}

static void
on_grace_over(evutil_socket_t unused, short what, void *arg)
{
	struct closing *cl = arg;
	struct evapi_site *s = cl->site;
	evutil_socket_t fd = s->lev ? evconnlistener_get_fd(s->lev) : -1;
	struct sockaddr_storage ss;
	socklen_t len;
	int nfd;

	(void)unused;
	(void)what;
	/* Whatever the kernel queued is accepted and answered, then the
	 * listener closes with an empty queue: no connection is reset. */
	while (fd >= 0) {
		len = sizeof(ss);
		nfd = accept4(fd, (struct sockaddr *)&ss, &len,
			      SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (nfd < 0)
			break;
		evapi_accept_cb(s->lev, nfd, (struct sockaddr *)&ss, (int)len,
				s);
	}
	event_free(cl->ev);
	cl->done(s);
	free(cl);
}

void
evapi_accept_close(struct evapi_site *s, unsigned grace_ms,
		   void (*done)(struct evapi_site *s))
{
	struct timeval tv = {grace_ms / 1000, (grace_ms % 1000) * 1000};
	struct closing *cl = calloc(1, sizeof(*cl));

	if (s->lev == NULL || cl == NULL ||
	    (cl->ev = evtimer_new(s->base, on_grace_over, cl)) == NULL) {
		free(cl);
		done(s);
		return;
	}
	cl->site = s;
	cl->done = done;
	drop_syns(evconnlistener_get_fd(s->lev));
	evtimer_add(cl->ev, &tv);
}
