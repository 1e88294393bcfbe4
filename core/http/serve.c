/*
 * serve.c - reading a connection's requests and writing its responses,
 * on every path (conn.h has the modes).
 *
 * Every byte read lands in the bufferevent's input, where an evbuffer
 * callback (on_input) sees it first and feeds the gate: evhttp's read
 * callback, when it runs at all, runs after, on bytes the gate passed.
 *
 * DIRECT: evhttp's read callback is held back; a complete request at the
 * front of the input is taken from the gate, its bytes drained, and
 * dispatched; its response is written to the output and flushed at once;
 * pipelined requests follow in order, one at a time.
 *
 * EVHTTP: a request whose body is not all there yet (or is chunked) goes
 * to evhttp, which reads and decodes the body and then calls the gencb
 * (evhttp.c), which lands in evapi_serve_evhttp_request. Its response is
 * written by the same head writer, then evhttp is told the reply is over
 * with evhttp_send_reply_end (which, with the output not empty, finishes
 * once the output is written): evhttp keeps managing the connection. The
 * connection goes back to DIRECT when evhttp is idle and new bytes start
 * a new request.
 *
 * A refusal (the gate would not pass a byte) is answered once every
 * request before it is, then the connection closes, lingering when the
 * client may still be sending so that the refusal is not lost to a reset.
 *
 * While a handler holds a request, the connection reads nothing (the next
 * request waits in the kernel, or in the input), and a peek watcher tells
 * when the client goes away, as nginx does (ngx_http_test_reading).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/http_struct.h>

#include "accept.h"
#include "util/clock.h"
#include "conn.h"
#include "dispatch.h"
#include "util/log.h"
#include "reqid.h"
#include "request.h"
#include "response.h"
#include "serve.h"

/* Bytes a connection may buffer ahead of the gate (pipelining). */
#define MAX_UNFED (256 * 1024)
/* Lingering close: at most this long in all, this long between reads. */
#define LINGER_MS 2000
#define LINGER_READ_MS 1000
/* A response composed on the stack and added to the output in one piece;
 * a longer head (many plugin headers) goes to the heap, a longer body by
 * reference or copy after its head. */
#define HEAD_STACK 2048
/* The largest answer sent on a connection evhttp has not seen yet. */
#define EARLY_REPLY_MAX 2048

volatile int evapi_http_draining;
volatile int evapi_http_stopped;

static void advance(struct evapi_conn *c);
static void close_conn(struct evapi_conn *c);

/* ---- reading ----------------------------------------------------------------- */

/* A bufferevent has one argument for all its callbacks: with evapi's
 * own installed, evhttp's event callback is reached through this one. */
static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	struct evapi_conn *c = arg;

	/* evhttp's IDLE_TIMEOUT (a read or write stalled that long): it
	 * frees the connection without saying why. */
	if ((what & BEV_EVENT_TIMEOUT) && c->why == EVAPI_CLOSE_OTHER)
		c->why = EVAPI_CLOSE_IDLE_TIMEOUT;
	if (c->evcon != NULL)
		c->ev_event(bev, what, c->evcon);
}

/* evhttp's read callback held back: evapi reads. */
static void
hold(struct evapi_conn *c)
{
	bufferevent_setcb(c->bev, NULL, NULL, on_event, c);
}

/* Feed the gate N bytes of the input from offset OFF; what it does not
 * take (its queue is full) waits as "unfed". */
static void
feed(struct evapi_conn *c, size_t off, size_t n)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	struct evbuffer_iovec v[8];
	struct evbuffer_ptr pos;
	int nv, i;

	while (n > 0 && c->gate.state != GATE_REFUSED) {
		if (evbuffer_ptr_set(in, &pos, off, EVBUFFER_PTR_SET) != 0)
			break;
		nv = evbuffer_peek(in, (ev_ssize_t)n, &pos, v, 8);
		if (nv > 8)
			nv = 8;
		for (i = 0; i < nv && n > 0; i++) {
			size_t len = v[i].iov_len < n ? v[i].iov_len : n;
			size_t took = evapi_gate_feed(&c->gate, v[i].iov_base,
						      len);

			off += took;
			n -= took;
			if (took < len) {
				c->unfed = n;
				return;
			}
		}
		if (nv <= 0)
			break;
	}
	c->unfed = c->gate.state == GATE_REFUSED ? 0 : n;
}

/* Room in the gate's queue again: read what waited. */
static void
refeed(struct evapi_conn *c)
{
	size_t len, n = c->unfed;

	if (n == 0 || c->bev == NULL)
		return;
	len = evbuffer_get_length(bufferevent_get_input(c->bev));
	c->unfed = 0;
	feed(c, len - n, n);
	if (c->unfed < MAX_UNFED && c->active == NULL && !c->writing &&
	    c->mode != EVAPI_CM_CLOSING)
		bufferevent_enable(c->bev, EV_READ);
}

static void
on_input(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct evapi_conn *c = arg;
	size_t n = info->n_added;

	if (n == 0 || c->phase == EVAPI_PH_GONE || c->mode == EVAPI_CM_CLOSING)
		return;
	/* Read before the handover (EARLY): the gate has them already. */
	if (c->prefed > 0) {
		size_t skip = c->prefed < n ? c->prefed : n;

		c->prefed -= skip;
		n -= skip;
	}
	/* Bytes of a new request after evhttp finished its last one: evapi
	 * reads again, before evhttp's read callback sees them. */
	if (c->mode == EVAPI_CM_EVHTTP && !c->evhttp_busy &&
	    info->orig_size == 0) {
		c->mode = EVAPI_CM_DIRECT;
		hold(c);
	}
	if (c->phase == EVAPI_PH_IDLE)
		evapi_conn_phase(c, EVAPI_PH_HEAD);
	if (c->unfed > 0)
		c->unfed += n;
	else if (n > 0)
		feed(c, evbuffer_get_length(buf) - n, n);
	/* A client pipelining far ahead waits in the kernel. */
	if (c->unfed >= MAX_UNFED)
		bufferevent_disable(c->bev, EV_READ);
	c->in_input = !c->injecting;
	advance(c);
	c->in_input = 0;
}

void
evapi_serve_start(struct evapi_conn *c)
{
	void *evcon = NULL;

	bufferevent_getcb(c->bev, &c->ev_read, &c->ev_write, &c->ev_event,
			  &evcon);
	if (c->evcon == NULL)
		c->evcon = evcon;
	c->incb = evbuffer_add_cb(bufferevent_get_input(c->bev), on_input, c);
	c->mode = EVAPI_CM_DIRECT;
	if (c->incb == NULL || c->ev_read == NULL) {
		/* Not what evhttp 2.1 leaves: evhttp reads everything. */
		c->mode = EVAPI_CM_EVHTTP;
		c->evhttp_busy = 1;
		return;
	}
	hold(c);
}

void
evapi_serve_inject(struct evapi_conn *c, const char *data, size_t n)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);

	c->injecting = 1;
	evbuffer_add(in, data, n);
	c->injecting = 0;
}

/* ---- the request at the front ------------------------------------------------ */

/* Give the front message to evhttp: it reads the body and calls the
 * gencb. Its leading empty lines (the gate skipped them) would be a bad
 * request line to evhttp: drained first. */
static void
to_evhttp(struct evapi_conn *c, struct evapi_msg *m)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);

	if (m->skip > 0) {
		evbuffer_drain(in, (size_t)m->skip);
		m->skip = 0;
	}
	c->mode = EVAPI_CM_EVHTTP;
	c->evhttp_busy = 1;
	bufferevent_setcb(c->bev, c->ev_read, c->ev_write, c->ev_event,
			  c->evcon);
	/* Inside a read, bufferevent calls evhttp's read callback when the
	 * input callback returns; otherwise, now. */
	if (!c->in_input)
		bufferevent_trigger(c->bev, EV_READ, 0);
}

/* Take the complete front message, drain its bytes, give it its body. */
static struct evapi_request *
take_direct(struct evapi_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	struct evapi_msg *m = evapi_gate_take(&c->gate);
	struct evapi_request *req = evapi_request_of(m);
	size_t body_off = (size_t)(m->head_end);
	size_t blen = (size_t)m->body_len;

	if (blen > 0) {
		const char *p = (const char *)evbuffer_pullup(
			in, (ev_ssize_t)(body_off + blen));

		if (p == NULL ||
		    evapi_request_set_body(req, p + body_off, blen, 1) !=
			    EVAPI_OK) {
			evbuffer_drain(in, (size_t)m->wire);
			evapi_request_free(req);
			return NULL;
		}
	}
	evbuffer_drain(in, (size_t)m->wire);
	return req;
}

/* Nothing to do while a request or a response is in progress. */
static int
busy(const struct evapi_conn *c)
{
	return c->active != NULL || c->writing ||
	       c->mode == EVAPI_CM_CLOSING || c->phase == EVAPI_PH_GONE;
}

static void refuse(struct evapi_conn *c);

static void
advance(struct evapi_conn *c)
{
	struct evapi_msg *m;
	struct evapi_request *req;

	if (c->advancing)
		return;
	c->advancing = 1;
	while (!busy(c) && c->mode != EVAPI_CM_EVHTTP) {
		refeed(c);
		if (evapi_gate_refusal_due(&c->gate)) {
			refuse(c);
			break;
		}
		m = evapi_gate_front(&c->gate);
		if (m == NULL)
			break;
		if (!m->complete || m->head.chunked) {
			to_evhttp(c, m);
			break;
		}
		req = take_direct(c);
		if (req == NULL) {
			c->close_after = 1;
			close_conn(c);
			break;
		}
		c->site->served_direct++;
		evapi_dispatch(c, req);
	}
	c->advancing = 0;
}

/* evhttp read a whole request (its body decoded into evhttp's input
 * buffer): the gate's front message, complete. */
void
evapi_serve_evhttp_request(struct evapi_site *s, struct evhttp_request *ev)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(ev);
	struct evapi_conn *c =
		evcon ? evapi_conn_find(s, evhttp_connection_get_bufferevent(
						   evcon))
		      : NULL;
	struct evapi_msg *m = c ? evapi_gate_take(&c->gate) : NULL;
	struct evbuffer *body = evhttp_request_get_input_buffer(ev);
	struct evapi_request *req;
	size_t blen = evbuffer_get_length(body);

	if (m == NULL) {
		/* Not a connection evapi tracks, or the gate disagrees:
		 * nothing sane can be answered on it. */
		evapi_core_log(EVAPI_LOG_ERROR, "request evhttp read was not "
			       "passed by the gate; closing", NULL);
		evhttp_connection_free(evcon);
		return;
	}
	req = evapi_request_of(m);
	req->ev = ev;
	/* An absolute-form target whose host evhttp does not know makes it a
	 * proxy request, which evhttp closes after the reply: evapi serves
	 * it as any other (RFC 9112 3.2.2). */
	ev->flags &= ~EVHTTP_PROXY_REQUEST;
	if (blen > 0 &&
	    evapi_request_set_body(req,
				   (const char *)evbuffer_pullup(
					   body, (ev_ssize_t)blen),
				   blen, 0) != EVAPI_OK) {
		evapi_request_free(req);
		evhttp_connection_free(evcon);
		return;
	}
	s->served_evhttp++;
	evapi_dispatch(c, req);
}

/* evhttp wrote the response and is about to read again (or close). */
static void
on_evhttp_done(struct evhttp_request *ev, void *arg)
{
	struct evapi_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(c->bev);

	(void)ev;
	c->writing = 0;
	/* Empty lines the gate skipped before a buffered request: evhttp
	 * would read them as a bad request line. */
	if (c->gate.first != NULL && c->gate.first->skip > 0) {
		evbuffer_drain(in, (size_t)c->gate.first->skip);
		c->gate.first->skip = 0;
	}
	c->evhttp_busy = evbuffer_get_length(in) > 0;
}

/* ---- writing -------------------------------------------------------------------- */

/* Write the output now (the socket nearly always takes it): 1 when all of
 * it left. The front of a socket bufferevent's output is frozen between
 * its own writes. */
static int
flush_now(struct evapi_conn *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	int n;

	if (evbuffer_get_length(out) == 0)
		return 1;
	evbuffer_unfreeze(out, 1);
	n = evbuffer_write(out, c->fd);
	evbuffer_freeze(out, 1);
	(void)n;
	return evbuffer_get_length(out) == 0;
}

static void
on_direct_written(struct bufferevent *bev, void *arg)
{
	struct evapi_conn *c = arg;

	(void)bev;
	c->writing = 0;
	bufferevent_disable(c->bev, EV_WRITE);
	hold(c);
	if (c->close_after) {
		close_conn(c);
		return;
	}
	bufferevent_enable(c->bev, EV_READ);
	advance(c);
}

/* A write error or timeout on our write: evhttp's event callback frees the
 * connection as for its own. */
static void
wait_direct_write(struct evapi_conn *c)
{
	c->writing = 1;
	bufferevent_setcb(c->bev, NULL, on_direct_written, on_event, c);
	bufferevent_enable(c->bev, EV_WRITE);
}

/* Head and body of R into BUF when both fit in CAP; returns the length
 * they need (more than CAP: nothing usable in BUF). */
static size_t
compose(char *buf, size_t cap, const struct evapi_head_out *h,
	const struct evapi_response *r)
{
	size_t hlen = evapi_head_write(buf, cap, h);
	size_t blen = r->send_body ? r->len : 0;

	if (hlen + blen > cap || blen == 0)
		return hlen + blen;
	memcpy(buf + hlen, r->body, blen - (size_t)r->nl);
	if (r->nl)
		buf[hlen + blen - 1] = '\n';
	return hlen + blen;
}

/* The head and body of R into the output. */
static int
queue_response(struct evapi_conn *c, const struct evapi_head_out *h,
	       const struct evapi_response *r)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	char stack[HEAD_STACK], *head = stack;
	size_t hlen = compose(stack, sizeof(stack), h, r);
	int rc;

	if (hlen <= sizeof(stack))
		return evbuffer_add(out, stack, hlen) == 0 ? 0 : -1;
	hlen = evapi_head_write(stack, sizeof(stack), h);
	if (hlen > sizeof(stack)) {
		if ((head = malloc(hlen)) == NULL)
			return -1;
		evapi_head_write(head, hlen, h);
	}
	rc = evbuffer_add(out, head, hlen);
	if (head != stack)
		free(head);
	if (rc != 0)
		return -1;
	if (!r->send_body || r->len == 0)
		return 0;
	if (r->body_static)
		rc = evbuffer_add_reference(out, r->body, r->len - (size_t)r->nl,
					    NULL, NULL);
	else
		rc = evbuffer_add(out, r->body, r->len - (size_t)r->nl);
	if (rc == 0 && r->nl)
		rc = evbuffer_add(out, "\n", 1);
	return rc;
}

/* DIRECT: an answer that fits on the stack leaves in one send when nothing
 * waits before it (the usual case), without passing through the output
 * buffer; what the socket does not take waits there. Returns 0, or -1 when
 * the connection failed. */
static int
write_direct(struct evapi_conn *c, const struct evapi_head_out *h,
	     const struct evapi_response *r)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	char buf[HEAD_STACK];
	size_t len;
	ssize_t n;

	if (evbuffer_get_length(out) > 0 ||
	    (len = compose(buf, sizeof(buf), h, r)) > sizeof(buf))
		return queue_response(c, h, r);
	do
		n = send(c->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
		return -1;
	if (n < 0)
		n = 0;
	if ((size_t)n == len)
		return 0;
	return evbuffer_add(out, buf + n, len - (size_t)n) == 0 ? 0 : -1;
}

static void
refusal_head(const struct evapi_gate *g, const char *rid,
	     struct evapi_head_out *h, char *body, size_t bodylen, size_t *blen)
{
	memset(h, 0, sizeof(*h));
	h->minor = 1;
	h->status = g->status;
	h->content_type = "application/json";
	*blen = evapi_error_json(body, bodylen, g->status, g->why, rid);
	h->request_id = rid;
	h->has_length = 1;
	h->length = *blen;
	h->close = 1;
}

/* A refusal right after the last answer, when the gate refused what
 * follows it: the client learns why, and the connection ends. */
static int
queue_refusal(struct evapi_conn *c)
{
	struct evapi_response r;
	struct evapi_head_out h;
	char body[EVAPI_ERROR_JSON_MAX], ridbuf[EVAPI_REQID_BUF];
	const char *rid, *line;
	size_t blen, len;

	rid = evapi_reqid_refused(&c->gate, c->site->loop, ridbuf);
	refusal_head(&c->gate, rid, &h, body, sizeof(body), &blen);
	memset(&r, 0, sizeof(r));
	r.body = body;
	r.len = blen;
	r.send_body = 1;
	line = evapi_gate_refused_head(&c->gate, &len);
	evapi_dispatch_refused(c, c->gate.status, c->gate.why, line, len, rid);
	c->close_after = 1;
	c->linger = 1;
	return queue_response(c, &h, &r);
}

static void
refuse(struct evapi_conn *c)
{
	if (c->bev == NULL) {
		/* EARLY: nothing to answer with yet; accept.c hands the
		 * connection over first. */
		return;
	}
	hold(c);
	c->mode = EVAPI_CM_DIRECT;
	if (queue_refusal(c) != 0 || flush_now(c)) {
		close_conn(c);
		return;
	}
	wait_direct_write(c);
}

/* ---- closing ---------------------------------------------------------------------- */

static void
end_linger(struct evapi_conn *c)
{
	if (c->evcon != NULL)
		evhttp_connection_free(c->evcon);
}

static void
on_linger_read(struct bufferevent *bev, void *arg)
{
	struct evapi_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	evbuffer_drain(in, evbuffer_get_length(in));
	if (evapi_now_ms() >= c->linger_until)
		end_linger(c);
}

static void
on_linger_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	end_linger(arg);
}

/* The last response left. Close, or first read what the client still
 * sends for a while (a close with unread data sends a reset, which can
 * destroy the response on its way). */
static void
close_conn(struct evapi_conn *c)
{
	struct timeval rd = {LINGER_READ_MS / 1000, (LINGER_READ_MS % 1000) * 1000};
	struct evbuffer *in;

	if (c->evcon == NULL || c->mode == EVAPI_CM_CLOSING)
		return;
	in = bufferevent_get_input(c->bev);
	c->mode = EVAPI_CM_CLOSING;
	if (!c->linger && evbuffer_get_length(in) == 0) {
		evhttp_connection_free(c->evcon);
		return;
	}
	evbuffer_drain(in, evbuffer_get_length(in));
	shutdown(c->fd, SHUT_WR);
	c->linger_until = evapi_now_ms() + LINGER_MS;
	bufferevent_setcb(c->bev, on_linger_read, NULL, on_linger_event, c);
	bufferevent_set_timeouts(c->bev, &rd, NULL);
	bufferevent_disable(c->bev, EV_WRITE);
	bufferevent_enable(c->bev, EV_READ);
}

/* ---- answering ------------------------------------------------------------------------ */

static void
head_for(const struct evapi_request *req, const struct evapi_response *r,
	 int close, struct evapi_head_out *h)
{
	memset(h, 0, sizeof(*h));
	h->minor = req->msg.head.minor;
	h->status = r->status;
	h->content_type = r->content_type;
	/* 204 and 304 carry no length; HEAD carries the GET's. */
	h->has_length = r->status != 204 && r->status != 304;
	h->length = r->len;
	h->extra = req->rheaders;
	h->request_id = req->request_id;
	h->close = close;
	h->keepalive = !close && req->msg.head.minor == 0;
}

/* The request is over on C: C may read its next request. */
static void
request_ended(struct evapi_conn *c, struct evapi_request *req)
{
	struct evapi_site *s = c->site;

	if (c->active == req)
		c->active = NULL;
	if (c->gone_ev != NULL)
		event_del(c->gone_ev);
	if (c->phase == EVAPI_PH_BUSY)
		evapi_conn_phase(c, evbuffer_get_length(bufferevent_get_input(
					    c->bev)) > 0
					    ? EVAPI_PH_HEAD
					    : EVAPI_PH_IDLE);
	/* A handler that kept the request stopped the reading (evhttp stops
	 * it on its own path and starts it again itself). */
	if (c->mode == EVAPI_CM_DIRECT && c->unfed < MAX_UNFED &&
	    !(bufferevent_get_enabled(c->bev) & EV_READ))
		bufferevent_enable(c->bev, EV_READ);
	evapi_site_update_listener(s);
}

/* EARLY: the whole answer in one send, then close. */
static void
send_early(struct evapi_conn *c, const char *buf, size_t len)
{
	ssize_t n;

	/* All of it leaves, or the peer is gone: either way it ends here. */
	do
		n = send(c->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
}

static void
respond_evhttp(struct evapi_conn *c, struct evapi_request *req,
	       const struct evapi_head_out *h, const struct evapi_response *r)
{
	struct evhttp_request *ev = req->ev;

	/* evhttp decides to close from the headers: make its decision ours
	 * (it reads only the first Connection header, as one word). */
	if (h->close) {
		evhttp_add_header(evhttp_request_get_output_headers(ev),
				  "Connection", "close");
	} else if (h->minor == 0) {
		struct evkeyvalq *in = evhttp_request_get_input_headers(ev);

		while (evhttp_remove_header(in, "Connection") == 0)
			;
		evhttp_add_header(in, "Connection", "keep-alive");
	}
	if (queue_response(c, h, r) != 0) {
		close_conn(c);
		return;
	}
	if (evapi_gate_refusal_due(&c->gate) && queue_refusal(c) == 0)
		evhttp_add_header(evhttp_request_get_output_headers(ev),
				  "Connection", "close");
	evhttp_request_set_on_complete_cb(ev, on_evhttp_done, c);
	c->writing = 1;
	req->ev = NULL;
	/* No chunked reply pending: with the output not empty, evhttp
	 * finishes once its write callback sees it written. */
	ev->chunked = 0;
	evhttp_send_reply_end(ev);
	if (flush_now(c))
		c->ev_write(c->bev, c->evcon);
	else
		bufferevent_enable(c->bev, EV_WRITE);
}

void
evapi_serve_respond(struct evapi_request *req, const struct evapi_response *r)
{
	struct evapi_conn *c = req->conn;
	struct evapi_head_out h;
	int close;

	req->flags |= EVAPI_RQ_ANSWERED;
	evapi_dispatch_answered(req, r->status,
				r->send_body ? r->len : 0);
	if (c == NULL) {
		/* The connection is gone: the answer is dropped. */
		evapi_request_free(req);
		return;
	}
	if (req->flags & EVAPI_RQ_GONE) {
		c->active = NULL;
		req->conn = NULL;
		if (req->ev != NULL) {
			req->ev = NULL;
			evhttp_connection_free(c->evcon);
		} else {
			close_conn(c);
		}
		evapi_request_free(req);
		return;
	}
	close = r->close || req->msg.head.close || c->close_after ||
		evapi_http_draining || evapi_http_stopped;
	head_for(req, r, close, &h);
	if (close)
		c->close_after = 1;
	if (c->bev == NULL) {
		/* EARLY: the request closes its connection (accept.c). A new
		 * socket's send buffer is empty and never below about 4.5 KiB,
		 * so a small answer leaves in one sendmsg. */
		char buf[EARLY_REPLY_MAX];
		size_t n = compose(buf, sizeof(buf), &h, r);

		if (n <= sizeof(buf)) {
			c->active = NULL;
			req->conn = NULL;
			send_early(c, buf, n);
			c->site->served_early++;
			c->early_done = 1;
			evapi_request_free(req);
			return;
		}
		/* Bigger: evhttp takes the connection, the answer leaves
		 * through it (below). */
		if (evapi_accept_adopt(c) != 0) {
			c->active = NULL;
			req->conn = NULL;
			c->early_done = c->bev == NULL;
			evapi_request_free(req);
			return;
		}
	}
	request_ended(c, req);
	if (req->ev != NULL) {
		respond_evhttp(c, req, &h, r);
		evapi_request_free(req);
		return;
	}
	if (write_direct(c, &h, r) != 0 ||
	    (evapi_gate_refusal_due(&c->gate) && queue_refusal(c) != 0)) {
		evapi_request_free(req);
		close_conn(c);
		return;
	}
	evapi_request_free(req);
	if (flush_now(c)) {
		if (c->close_after)
			close_conn(c);
		else if (!c->advancing)
			advance(c);
		return;
	}
	wait_direct_write(c);
}

/* ---- while a handler works -------------------------------------------------------- */

static void
client_gone(struct evapi_conn *c)
{
	struct evapi_request *req = c->active;

	if (c->gone_ev != NULL)
		event_del(c->gone_ev);
	if (req == NULL || (req->flags & EVAPI_RQ_GONE))
		return;
	req->flags |= EVAPI_RQ_GONE;
	c->close_after = 1;
	evapi_core_log(EVAPI_LOG_DEBUG, "client went away before the answer",
		       "path", req->path ? req->path : "", NULL);
	if (req->on_gone != NULL)
		req->on_gone(req, req->gone_arg);
}

/* Readable while a handler works: the next request (the client is
 * there), or the end of the stream or a reset (it is not). */
static void
on_gone_check(evutil_socket_t fd, short what, void *arg)
{
	struct evapi_conn *c = arg;
	char b;
	ssize_t n;

	(void)what;
	n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
		       errno != EINTR)) {
		client_gone(c);
		return;
	}
	if (n > 0)
		event_del(c->gone_ev); /* alive, pipelining: stop looking */
}

void
evapi_serve_handler_returned(struct evapi_request *req)
{
	struct evapi_conn *c = req->conn;

	if (c == NULL || c->active != req || c->bev == NULL)
		return;
	/* The handler kept it: read nothing meanwhile (evhttp stopped reading
	 * on its own path already), but watch for the client leaving. */
	bufferevent_disable(c->bev, EV_READ);
	if (c->gone_ev == NULL)
		c->gone_ev = event_new(c->site->base, c->fd,
				       EV_READ | EV_PERSIST, on_gone_check, c);
	if (c->gone_ev != NULL)
		event_add(c->gone_ev, NULL);
}

/* ---- the connection ends ---------------------------------------------------------- */

void
evapi_serve_lost(struct evapi_conn *c)
{
	struct evapi_request *req = c->active;

	if (req == NULL)
		return;
	/* evhttp is about to free its request: keep what the handler may
	 * still read. */
	if (req->ev != NULL && req->body != NULL && req->body != req->body_copy)
		evapi_request_set_body(req, req->body, req->body_len, 1);
	req->ev = NULL;
	c->active = NULL;
	req->conn = NULL;
	if (!(req->flags & EVAPI_RQ_GONE)) {
		req->flags |= EVAPI_RQ_GONE;
		if (req->on_gone != NULL)
			req->on_gone(req, req->gone_arg);
	}
}

void
evapi_serve_release(struct evapi_conn *c)
{
	evapi_serve_lost(c);
	if (c->incb != NULL && c->bev != NULL)
		evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->incb);
	c->incb = NULL;
	evapi_gate_clear(&c->gate);
}
