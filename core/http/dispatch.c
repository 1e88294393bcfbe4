/*
 * dispatch.c - a whole request meets its handler (dispatch.h).
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "util/clock.h"
#include "conn.h"
#include "dispatch.h"
#include "util/log.h"
#include "util/num.h"
#include "reqid.h"
#include "request.h"
#include "route.h"
#include "serve.h"
#include "stats/stats.h"

int evapi_http_access_log;
int evapi_http_access_probes;

/* The request a handler runs for on this thread (handlers may nest when
 * one answer lets the next pipelined request run: a stack). */
struct frame {
	struct evapi_request *req;
	int answered, deferred;
	struct frame *prev;
};
static __thread struct frame *top;

static void
allow_and(struct evapi_request *req, int status, const char *allow)
{
	struct evapi_rheader *h = evapi_arena_alloc(req, sizeof(*h));

	if (h != NULL) {
		h->name = "Allow";
		h->value = allow;
		h->next = NULL;
		req->rheaders = req->rheaders_last = h;
	}
	if (status == 204)
		evapi_respond_empty(req, 204);
	else
		evapi_respond_error(req, status, "method not allowed");
}

static void
set_path(struct evapi_request *req)
{
	const struct evapi_head *h = &req->msg.head;

	if (h->path_len == 0)
		req->path = "/";
	else
		req->path = evapi_arena_strndup(req, req->msg.buf + h->path_off,
						h->path_len);
}

/* The handler is done with REQ (or kept it). */
static void
after_handler(struct evapi_request *req, const struct frame *f)
{
	if (f->answered)
		return;
	if (f->deferred) {
		evapi_serve_handler_returned(req);
		return;
	}
	evapi_core_log(EVAPI_LOG_ERROR, "handler returned without an answer",
		       "route", req->match.slot->pattern, "plugin",
		       req->match.slot->owner_name, NULL);
	evapi_respond_error(req, 500, "the handler gave no answer");
}

static void
run_handler(struct evapi_request *req)
{
	const struct evapi_slot *slot = req->match.slot;
	struct frame f = {req, 0, 0, top};

	top = &f;
	req->flags |= EVAPI_RQ_IN_HANDLER;
	slot->handler(req, slot->arg);
	top = f.prev;
	/* REQ is freed when it was answered: look at F only. */
	if (!f.answered)
		req->flags &= ~EVAPI_RQ_IN_HANDLER;
	after_handler(req, &f);
}

void
evapi_dispatch(struct evapi_conn *c, struct evapi_request *req)
{
	const struct evapi_head *h = &req->msg.head;
	struct evapi_site *s = c->site;
	const char *why;
	int status;

	req->conn = c;
	req->site = s;
	req->loop = s->loop;
	req->start_ns = evapi_now_ns();
	/* Counted as unmatched until a route takes it. */
	req->route = EVAPI_ROUTE_UNMATCHED(evapi_stats_nroutes());
	evapi_reqid_take(req);
	evapi_request_set_peer(req, &c->sa, c->salen);
	c->active = req;
	if (c->bev != NULL)
		evapi_conn_phase(c, EVAPI_PH_BUSY);
	s->inflight++;
	if (s->stats != NULL)
		evapi_stat_add(&s->stats->started, 1);
	set_path(req);
	if (req->path == NULL) {
		evapi_respond_error(req, 503, "out of memory");
		return;
	}
	/* After the loops ended the host still turns them to flush answers;
	 * a request read then must not reach a plugin that is finishing. */
	if (evapi_http_stopped) {
		evapi_respond_error(req, 503, "shutting down");
		return;
	}
	if (h->form == EVAPI_FORM_ASTERISK) {
		/* OPTIONS *: the server as a whole (RFC 9110 9.3.7). */
		req->route = EVAPI_ROUTE_ASTERISK(evapi_stats_nroutes());
		allow_and(req, 204, "DELETE, GET, HEAD, OPTIONS, PATCH, POST, "
				    "PUT");
		return;
	}
	if (!evapi_router_match(s->router, req->path, strlen(req->path),
				h->method_id, &req->match) ||
	    (s->probes_only && !(req->match.path->flags & EVAPI_ROUTE_PROBE))) {
		evapi_respond_error(req, 404, "not found");
		return;
	}
	req->route = (unsigned)(req->match.path - s->router->paths);
	if (req->match.slot == NULL) {
		allow_and(req, h->method_id == EVAPI_OPTIONS ? 204 : 405,
			  req->match.path->allow);
		return;
	}
	status = evapi_request_prepare(req, &why);
	if (status != 0) {
		evapi_respond_error(req, status, why);
		return;
	}
	run_handler(req);
}

void
evapi_dispatch_deferred(struct evapi_request *req)
{
	struct frame *f;

	for (f = top; f != NULL; f = f->prev)
		if (f->req == req)
			f->deferred = 1;
}

static int
quiet(const struct evapi_request *req)
{
	const struct evapi_slot *slot = req->match.slot;

	return req->route < EVAPI_ROUTE_UNMATCHED(evapi_stats_nroutes()) &&
	       slot != NULL && (slot->flags & EVAPI_ROUTE_PROBE) &&
	       !evapi_http_access_probes;
}

/* One line per answer. The path comes last: a long one is cut, and the
 * fields before it stay whole (log.c cuts the line, not a field). */
static void
access_log(struct evapi_request *req, int status, uint64_t bytes,
	   uint64_t us)
{
	unsigned m = evapi_stats_method_index(req->msg.head.method_id);
	int level = evapi_http_access_log ? EVAPI_LOG_INFO : EVAPI_LOG_DEBUG;
	char st[8], len[24], dur[24];

	/* Probes (kubelet, load balancers, scrapes) would fill the log:
	 * left out unless ACCESS_LOG_PROBES=on, at any level. */
	if (level < evapi_log_level || quiet(req))
		return;
	snprintf(st, sizeof(st), "%d", status);
	evapi_u64_text(bytes, len);
	evapi_u64_text(us, dur);
	evapi_request_fill_client(req);
	evapi_core_log(level, "request", "request_id", req->request_id,
		       "method",
		       req->msg.head.method ? req->msg.head.method : "",
		       "route", evapi_stats_route_label(req->route, m),
		       "status", st, "bytes", len, "duration_us", dur,
		       "client", req->client, "path",
		       req->msg.head.target ? req->msg.head.target : "", NULL);
}

void
evapi_dispatch_refused(const struct evapi_conn *c, int status, const char *why,
		       const char *line, size_t len, const char *request_id)
{
	int level = evapi_http_access_log ? EVAPI_LOG_INFO : EVAPI_LOG_DEBUG;
	struct evapi_site *s = c->site;
	struct evapi_request tmp;
	char st[8], text[512];
	size_t n = len < sizeof(text) - 1 ? len : sizeof(text) - 1;

	if (s->stats != NULL)
		evapi_stat_add(&s->stats->refused[evapi_stats_refusal_of(status)],
			       1);
	if (level < evapi_log_level)
		return;
	/* The line as far as it came, up to its CR; the log escapes every
	 * byte that is not printable ASCII. */
	memcpy(text, line, n);
	text[n] = '\0';
	text[strcspn(text, "\r\n")] = '\0';
	tmp.flags = 0;
	evapi_request_set_peer(&tmp, &c->sa, c->salen);
	evapi_request_fill_client(&tmp);
	snprintf(st, sizeof(st), "%d", status);
	evapi_core_log(level, "request", "request_id", request_id, "status",
		       st, "reason", why, "client", tmp.client, "line", text,
		       NULL);
}

void
evapi_dispatch_answered(struct evapi_request *req, int status, uint64_t bytes)
{
	struct evapi_site *s = req->site;
	struct frame *f;
	uint64_t ns;

	for (f = top; f != NULL; f = f->prev)
		if (f->req == req)
			f->answered = 1;
	if (s == NULL)
		return;
	ns = evapi_now_ns() - req->start_ns;
	if (s->stats != NULL)
		evapi_stats_request(s->stats, req->route,
				    evapi_stats_method_index(
					    req->msg.head.method_id),
				    status, ns);
	access_log(req, status, bytes, ns / 1000u);
	if (s->inflight > 0)
		s->inflight--;
	if (s->inflight == 0 && s->idle_cb != NULL)
		s->idle_cb(s->idle_arg);
	req->site = NULL;
}
