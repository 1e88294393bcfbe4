/*
 * reqid.h - request ids: the client's X-Request-Id when it is a sane
 * token, otherwise one made here; sent back on every response, logged
 * with the request, and put in the error bodies evapi writes (reqid.c).
 */
#ifndef EVAPI_HTTP_REQID_H
#define EVAPI_HTTP_REQID_H

#include <stddef.h>

struct evapi_loop;
struct evapi_gate;
struct evapi_request;

/* The longest id taken from a client, and room for a made one. */
#define EVAPI_REQID_MAX 128
#define EVAPI_REQID_BUF 48

/* Draw the process's random part (once, at start). */
void evapi_reqid_init(void);
/* S is 1 to EVAPI_REQID_MAX visible ASCII bytes. */
int evapi_reqid_sane(const char *s);
/* A new id in OUT (EVAPI_REQID_BUF bytes), unique in the process: the
 * random part, LOOP's index and its count ("9f86d081884c7d65-0-42").
 * Only LOOP's thread makes ids for LOOP (or, once it ended, the main
 * thread). */
void evapi_reqid_make(char *out, struct evapi_loop *loop);
/* REQ's id, from its head or made (before anything answers it). */
void evapi_reqid_take(struct evapi_request *req);
/* The id of the request the gate refused: its X-Request-Id when its
 * head was read whole, else made in BUF. */
const char *evapi_reqid_refused(const struct evapi_gate *g,
				struct evapi_loop *loop, char *buf);

#endif
