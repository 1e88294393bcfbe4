/*
 * flush.c - write a reply in the handler's own loop turn.
 *
 * evhttp_send_reply only queues a reply: it enables the bufferevent's write
 * event, and the bytes leave one loop turn later, when epoll reports the
 * socket writable (it nearly always is). Then the event is disabled again.
 * On a kept-alive connection that is two epoll_ctl calls and an extra loop
 * turn per request, about a quarter of the server's CPU for /health.
 *
 * So, right after evhttp_send_reply, we write the queued reply ourselves
 * and, when it all went out, run the bufferevent's write callback as the
 * bufferevent itself would have (evhttp then finishes the request: keeps
 * the connection for the next one, or frees it). The enable and the
 * disable of the write event meet in the same loop turn, where libevent's
 * epoll changelist (EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST) cancels them:
 * no epoll_ctl at all. Whatever the socket does not take at once is left
 * to the usual path, which also reports any write error.
 *
 * Public libevent 2.1 API only. What it relies on, checked here and pinned
 * by the test suite (every request goes through this path):
 *   - the connection's bufferevent is a plain socket bufferevent without
 *     deferred callbacks or rate limits (conns.c creates it);
 *   - bufferevent_sock keeps its output's front frozen between writes
 *     (unfreeze, write, freeze, as bufferevent_writecb does);
 *   - right after evhttp_send_reply the bufferevent has no read callback,
 *     evhttp's write callback, and EV_WRITE enabled (evhttp_write_buffer).
 *     Anything else (another libevent, a reply already half sent) skips the
 *     shortcut.
 * The request is freed by the write callback: no caller of evapi_flush
 * touches it afterwards (plugin.h tells plugins the same).
 */
#include "config.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>

#include "evapi-internal.h"

void
evapi_flush(struct evhttp_connection *evcon)
{
	bufferevent_data_cb readcb, writecb;
	struct bufferevent *bev;
	struct evbuffer *out;
	void *arg;
	int n;

	if (evcon == NULL)
		return;
	bev = evhttp_connection_get_bufferevent(evcon);
	if (bev == NULL || !(bufferevent_get_enabled(bev) & EV_WRITE))
		return;
	bufferevent_getcb(bev, &readcb, &writecb, NULL, &arg);
	if (readcb != NULL || writecb == NULL)
		return;
	out = bufferevent_get_output(bev);
	if (evbuffer_get_length(out) == 0)
		return;
	evbuffer_unfreeze(out, 1);
	n = evbuffer_write(out, bufferevent_getfd(bev));
	evbuffer_freeze(out, 1);
	/* Short write, EAGAIN or an error: the write event takes over. */
	if (n <= 0 || evbuffer_get_length(out) != 0)
		return;
	writecb(bev, arg);
}
