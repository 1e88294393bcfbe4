/*
 * dispatch.h - from a whole request to its handler: the route, the
 * answers the host gives itself (404, 405 and OPTIONS with Allow, 400 for
 * a bad escape, 503 once stopped, 500 for a handler that forgot to
 * answer), the access log and the count of requests in handlers.
 */
#ifndef EVAPI_HTTP_DISPATCH_H
#define EVAPI_HTTP_DISPATCH_H

#include <stddef.h>
#include <stdint.h>

struct evapi_conn;
struct evapi_request;

void evapi_dispatch(struct evapi_conn *c, struct evapi_request *req);
/* A response is being given to REQ (BYTES of body): log and count it. */
void evapi_dispatch_answered(struct evapi_request *req, int status,
			     uint64_t bytes);
/* A refusal of bytes the gate would not pass: counted by reason, and an
 * access-log line with the request line as far as it came (LINE, LEN
 * bytes; any bytes) and the id it was answered with. */
void evapi_dispatch_refused(const struct evapi_conn *c, int status,
			    const char *why, const char *line, size_t len,
			    const char *request_id);
/* evapi_defer, for the handler running now. */
void evapi_dispatch_deferred(struct evapi_request *req);

/* The access log (ACCESS_LOG, ACCESS_LOG_PROBES; set by the server). */
extern int evapi_http_access_log;
extern int evapi_http_access_probes;

#endif
