/*
 * fastserve.c - the fast path's connection side. See fastserve.h.
 *
 * When it runs, evhttp is waiting for a request line on this connection
 * (it has a read callback, so it is not writing a reply) and the input
 * buffer holds exactly the bytes of this read. If they are one request
 * head the fast path serves (fastpath.c) and the route has a request-free
 * answer (api->route_answer), the head is drained and the reply written
 * with one sendmsg. evhttp then finds an empty buffer and keeps waiting.
 *
 * evapi_fast_serve_new answers the first request of a connection evhttp
 * has not seen yet (conns.c reads it) when that request closes the
 * connection: one sendmsg, then close. With a new connection per request
 * (a probe, a load balancer without keep-alive) evhttp's connection setup
 * and teardown, which cost more than the request, are then never paid.
 *
 * Two rarer endings, with public libevent API only:
 *   - "Connection: close" (or HTTP/1.0 without keep-alive): the reply is
 *     out, so evhttp_connection_free closes as evhttp itself would after
 *     a reply (shutdown, then close).
 *   - The socket took only part of the reply (a client that stopped
 *     reading): the rest goes to the bufferevent's output, evhttp's read
 *     callback is held back and reading paused, so no later request is
 *     answered before this one; an output callback restores both (or
 *     closes) once the output is empty. A write error or timeout reaches
 *     evhttp's event callback, which stays installed, as usual.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>

#include "evapi-internal.h"
#include "fastpath.h"
#include "fastserve.h"

/* Status line and headers: about 150 bytes. */
#define HEAD_MAX 512

static void
close_conn(void *evcon)
{
	evhttp_connection_free(evcon);
}

/* The queued rest of a reply left: give evhttp its connection back. */
static void
on_output(struct evbuffer *out, const struct evbuffer_cb_info *info,
	  void *arg)
{
	struct evapi_fast_conn *fc = arg;
	bufferevent_event_cb eventcb;
	void *evcon = NULL;

	if (info->n_deleted == 0 || evbuffer_get_length(out) > 0)
		return;
	evbuffer_cb_clear_flags(out, fc->outcb, EVBUFFER_CB_ENABLED);
	bufferevent_getcb(fc->bev, NULL, NULL, &eventcb, &evcon);
	/* evhttp already freed it (an error, eviction): nothing to give. */
	if (evcon == NULL)
		return;
	if (fc->close) {
		close_conn(evcon);
		return;
	}
	/* No write callback: evhttp sets its own with its next reply. */
	bufferevent_setcb(fc->bev, fc->readcb, NULL, eventcb, evcon);
	bufferevent_enable(fc->bev, EV_READ);
}

static enum evapi_fast_result
queue_rest(struct evapi_fast_conn *fc, const struct iovec *iov, int niov,
	   size_t sent, int close, void *evcon)
{
	struct evbuffer *out = bufferevent_get_output(fc->bev);
	bufferevent_event_cb eventcb;
	int i;

	for (i = 0; i < niov; i++) {
		const char *p = (const char *)iov[i].iov_base;
		size_t skip = sent < iov[i].iov_len ? sent : iov[i].iov_len;
		int rc;

		sent -= skip;
		/* The head is on our stack: copied. The body is the host's and
		 * outlives every connection: referenced. */
		if (i == 0)
			rc = evbuffer_add(out, p + skip, iov[i].iov_len - skip);
		else
			rc = evbuffer_add_reference(out, p + skip,
						    iov[i].iov_len - skip,
						    NULL, NULL);
		if (rc != 0)
			goto fail;
	}
	if (fc->outcb == NULL)
		fc->outcb = evbuffer_add_cb(out, on_output, fc);
	else
		evbuffer_cb_set_flags(out, fc->outcb, EVBUFFER_CB_ENABLED);
	if (fc->outcb == NULL)
		goto fail;
	fc->close = close;
	bufferevent_getcb(fc->bev, &fc->readcb, NULL, &eventcb, NULL);
	bufferevent_setcb(fc->bev, NULL, NULL, eventcb, evcon);
	bufferevent_disable(fc->bev, EV_READ);
	bufferevent_enable(fc->bev, EV_WRITE);
	return EVAPI_FAST_PENDING;
fail:
	/* Out of memory with half a reply sent: nothing sane can follow. */
	close_conn(evcon);
	return EVAPI_FAST_CLOSED;
}

/* The answer to R, when its route has one: the reply head written to HEAD
 * (HEAD_MAX bytes), IOV[0] the head and IOV[1] the body (empty for HEAD).
 * Returns the reply's length, or 0 to leave the request to evhttp. */
static size_t
answer(const struct evapi_fast *f, const struct evapi_fastreq *r, char *head,
       struct iovec iov[2])
{
	const struct evapi_body *body;
	size_t hlen;
	int status;

	body = f->answer(f->arg, r, &status);
	if (body == NULL)
		return 0;
	hlen = evapi_fast_head(head, HEAD_MAX, r, status,
			       body->content_length, evapi_http_date());
	if (hlen == 0)
		return 0;
	iov[0].iov_base = head;
	iov[0].iov_len = hlen;
	iov[1].iov_base = (void *)body->data;
	iov[1].iov_len = r->head ? 0 : body->len;
	return hlen + iov[1].iov_len;
}

enum evapi_fast_result
evapi_fast_serve(const struct evapi_fast *f, struct bufferevent *bev,
		 struct evbuffer *in, struct evapi_fast_conn *fc)
{
	size_t len = evbuffer_get_length(in), total;
	bufferevent_data_cb readcb;
	struct evapi_fastreq r;
	struct iovec iov[2];
	struct msghdr msg;
	char head[HEAD_MAX];
	const char *data;
	void *evcon = NULL;
	int niov;
	ssize_t n;

	if (f == NULL || f->answer == NULL || len > f->max_head)
		return EVAPI_FAST_NO;
	bufferevent_getcb(bev, &readcb, NULL, NULL, &evcon);
	/* evhttp is reading, and no earlier reply is still leaving (ours
	 * would overtake it). */
	if (readcb == NULL || evcon == NULL ||
	    evbuffer_get_length(bufferevent_get_output(bev)) > 0)
		return EVAPI_FAST_NO;
	data = (const char *)evbuffer_pullup(in, (ev_ssize_t)len);
	if (data == NULL || !evapi_fast_parse(data, len, &r))
		return EVAPI_FAST_NO;
	total = answer(f, &r, head, iov);
	if (total == 0)
		return EVAPI_FAST_NO;
	evbuffer_drain(in, len);

	niov = iov[1].iov_len > 0 ? 2 : 1;
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = iov;
	msg.msg_iovlen = (size_t)niov;
	fc->bev = bev;
	do
		n = sendmsg(bufferevent_getfd(bev), &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
		/* The peer is gone (reset): close now. */
		close_conn(evcon);
		return EVAPI_FAST_CLOSED;
	}
	if (n < 0)
		n = 0;
	if ((size_t)n < total)
		return queue_rest(fc, iov, niov, (size_t)n, r.close, evcon);
	if (r.close) {
		close_conn(evcon);
		return EVAPI_FAST_CLOSED;
	}
	return EVAPI_FAST_KEPT;
}

/* The largest reply sent for a connection evhttp has not seen yet. Its
 * socket's send buffer is empty and never smaller than about 4.5 KiB
 * (SOCK_MIN_SNDBUF), so a reply this size leaves in one sendmsg; larger
 * ones go through evhttp, which can queue what the socket does not take. */
#define NEW_REPLY_MAX 2048

enum evapi_fast_result
evapi_fast_serve_new(const struct evapi_fast *f, evutil_socket_t fd,
		     const char *data, size_t len)
{
	struct evapi_fastreq r;
	struct iovec iov[2];
	struct msghdr msg;
	char head[HEAD_MAX];
	size_t total;

	if (f == NULL || f->answer == NULL || len > f->max_head ||
	    !evapi_fast_parse(data, len, &r) || !r.close)
		return EVAPI_FAST_NO;
	total = answer(f, &r, head, iov);
	if (total == 0 || total > NEW_REPLY_MAX)
		return EVAPI_FAST_NO;
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = iov;
	msg.msg_iovlen = 2;
	/* Sent, or failed because the peer is gone: either way the request
	 * asked for the close, and the receive queue is empty, so the close
	 * sends a FIN. */
	while (sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 &&
	       errno == EINTR)
		;
	evutil_closesocket(fd);
	return EVAPI_FAST_CLOSED;
}

void
evapi_fast_conn_release(struct evapi_fast_conn *fc)
{
	if (fc->outcb != NULL && fc->bev != NULL)
		evbuffer_remove_cb_entry(bufferevent_get_output(fc->bev),
					 fc->outcb);
	fc->outcb = NULL;
}
