/*
 * evhttp.c - what evapi asks of evhttp, in one place: a site's evhttp is
 * configured, gives each connection a bufferevent of ours (bevcb), hands
 * over the requests it read (gencb), and lets evapi's listener callback
 * go first (take_accept, the one reliance on libevent's private layout).
 */
#include "config.h"

#include <string.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include "accept.h"
#include "conn.h"
#include "evhttp-glue.h"
#include "request.h"
#include "util/log.h"
#include "serve.h"

/* Sites whose listener error callback may fire. The table is written
 * before any worker thread starts and only read afterwards. */
#define MAX_SITES 260
static struct evapi_site *sites[MAX_SITES];
static size_t nsites;

/* evhttp asks for a new connection's bufferevent (before it sets the
 * descriptor): ours, with CLOSE_ON_FREE and a reference kept (conn.c). */
static struct bufferevent *
on_bev(struct event_base *base, void *arg)
{
	struct evapi_site *s = arg;
	struct evapi_conn *c = s->capture ? s->captured : NULL;
	struct bufferevent *bev;

	if (c == NULL) {
		/* evhttp's own accept callback ran (take_accept could not
		 * put ours first): the connection is new to evapi. */
		c = evapi_conn_new(s, -1, NULL, 0);
		if (c == NULL)
			return NULL;
		evapi_gate_init(&c->gate, &s->glim, evapi_msg_alloc,
				evapi_msg_release, NULL);
	}
	bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		if (!s->capture)
			evapi_conn_drop_early(c);
		/* evhttp then makes its own bufferevent, untracked. */
		return NULL;
	}
	evapi_conn_track(c, bev);
	return bev;
}

static void
on_request(struct evhttp_request *ev, void *arg)
{
	evapi_serve_evhttp_request(arg, ev);
}

static void
on_accept_error(struct evconnlistener *lev, void *ctx)
{
	int err = EVUTIL_SOCKET_ERROR();
	struct evapi_site *s = NULL;
	size_t i;

	/* The argument is evhttp, or the site once take_accept ran. */
	for (i = 0; i < nsites; i++)
		if (sites[i]->http == ctx || sites[i] == ctx)
			s = sites[i];
	if (s == NULL || s->lev != lev) {
		evconnlistener_disable(lev);
		return;
	}
	evapi_site_accept_error(s, err);
}

/* The start of libevent 2.1's struct evconnlistener (listener.c), where
 * evhttp_bind_listener stores its accept callback and evhttp as its
 * argument. */
struct listener_head {
	const void *ops;
	void *lock;
	evconnlistener_cb cb;
	evconnlistener_errorcb errorcb;
	void *user_data;
};

/* libevent has no getter for the accept callback evhttp installs, and
 * evapi's listener callback must run first (accept.c). The callback is
 * read from the listener, but only when the two fields next to it hold
 * what evhttp and evapi just stored there (the error callback and evhttp);
 * with any other layout evhttp's callback stays, and connections reach
 * evhttp directly: on_bev then counts them, and the gate still reads
 * every byte (conn.c attaches it before the first read). */
static void
take_accept(struct evapi_site *s, struct evconnlistener *lev)
{
	struct listener_head h;

	if (evapi_glue_no_take_accept)
		return;
	memcpy(&h, lev, sizeof(h));
	if (h.errorcb != on_accept_error || h.user_data != s->http ||
	    h.cb == NULL || h.cb == evapi_accept_cb)
		return;
	s->evhttp_accept = h.cb;
	evconnlistener_set_cb(lev, evapi_accept_cb, s);
}

int evapi_glue_no_take_accept;

void
evapi_glue_configure(struct evapi_site *s, const struct evapi_glue_limits *l)
{
	/* Accept every method evhttp knows: the gate and the router answer
	 * the others (evhttp itself would answer 501 in HTML). */
	evhttp_set_allowed_methods(s->http,
		EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
		EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
		EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
	/* The gate enforces both first; evhttp's own limits are a second
	 * line, a little wider so they never decide. */
	evhttp_set_max_headers_size(s->http,
				    (ev_ssize_t)(l->max_header_size + 64));
	evhttp_set_max_body_size(s->http, (ev_ssize_t)(l->max_body_size + 64));
	evhttp_set_timeout(s->http, (int)l->idle_timeout);
	evhttp_set_gencb(s->http, on_request, s);
	evhttp_set_bevcb(s->http, on_bev, s);
	if (nsites < MAX_SITES)
		sites[nsites++] = s;
}

void
evapi_glue_forget(struct evapi_site *s)
{
	size_t i;

	for (i = 0; i < nsites; i++)
		if (sites[i] == s)
			sites[i] = sites[--nsites];
}

void
evapi_glue_listener(struct evapi_site *s, struct evconnlistener *lev)
{
	if (lev != NULL) {
		evconnlistener_set_error_cb(lev, on_accept_error);
		take_accept(s, lev);
	}
	evapi_site_set_listener(s, lev);
}
