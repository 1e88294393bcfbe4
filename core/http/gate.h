/*
 * gate.h - every byte a client sends passes the gate before anything acts
 * on it: a streaming reader of HTTP/1.1 message framing, one per
 * connection.
 *
 * The gate reads the bytes of a connection as they arrive, whatever the
 * read boundaries: each request's head (line by line, through head.c),
 * then its body by Content-Length or by chunks. It cuts the stream into
 * messages (queued, oldest first) and stops at the first byte that breaks
 * the grammar or a limit, with the status to refuse with. Nothing else is
 * allowed to read a byte the gate has not passed: evhttp parses only bytes
 * the gate has read, so evhttp 2.1's lax parser only ever sees requests a
 * strict one accepted (see conn.c).
 *
 * Chunked bodies are read strictly: hexadecimal sizes without "0x", no
 * chunk extensions (evhttp cannot parse them; refused with 400 rather
 * than misread), CRLF after every line and every chunk, trailer fields of
 * the field grammar (checked, then ignored).
 *
 * Pure code over bytes: messages come from an allocator the caller gives,
 * so the unit tests and a fuzzer drive it without any connection.
 */
#ifndef EVAPI_HTTP_GATE_H
#define EVAPI_HTTP_GATE_H

#include <stddef.h>
#include <stdint.h>

#include "head.h"

/* One message as the gate reads it. The request object embeds it. */
struct evapi_msg {
	char *buf; /* the head's bytes, from its request line */
	size_t len, cap;
	struct evapi_head head;
	uint64_t skip;     /* empty lines before the request line */
	uint64_t wire;     /* bytes on the wire so far, SKIP included */
	uint64_t head_end; /* wire offset where the body starts */
	uint64_t body_len; /* body bytes so far (chunk data, not framing) */
	int head_done;     /* the head is complete and accepted */
	int complete;      /* ... and so is the body */
	struct evapi_msg *next;
};

struct evapi_gate_limits {
	size_t max_head;   /* request line and fields, line ends included */
	uint64_t max_body; /* Content-Length or the sum of the chunks */
	size_t max_fields;
	unsigned max_queued; /* messages read ahead of their consumer */
};

enum evapi_gate_state {
	GATE_START,
	GATE_HEAD,
	GATE_BODY,
	GATE_CHUNK_SIZE,
	GATE_CHUNK_DATA,
	GATE_CHUNK_END,
	GATE_TRAILER,
	GATE_REFUSED,
};

struct evapi_gate {
	struct evapi_gate_limits lim;
	/* A fresh message (its buffer may be kept from an earlier use), and
	 * the way back. */
	struct evapi_msg *(*alloc)(void *arg);
	void (*release)(struct evapi_msg *m, void *arg);
	void *arg;

	enum evapi_gate_state state;
	struct evapi_msg *cur; /* being read; also in the queue once its head
				  is done */
	struct evapi_msg *first, *last;
	unsigned queued;
	size_t line_start; /* in cur->buf: the line being read */
	uint64_t left;     /* body bytes left, or chunk bytes left */
	char line[24];     /* a chunk-size line or a chunk's CRLF */
	size_t line_len;
	unsigned tstate;   /* the trailer's per-byte state */
	size_t tlen;       /* trailer bytes so far */

	int status;      /* GATE_REFUSED: the status to answer */
	const char *why; /* ... and why, a fixed text */
};

void evapi_gate_init(struct evapi_gate *g, const struct evapi_gate_limits *lim,
		     struct evapi_msg *(*alloc)(void *arg),
		     void (*release)(struct evapi_msg *m, void *arg),
		     void *arg);
/* Releases every queued message. */
void evapi_gate_clear(struct evapi_gate *g);

/* Read N more bytes of the stream. Returns how many it took: all of them,
 * or fewer when it refused the stream (state GATE_REFUSED, status and why
 * set) or its queue is full (feed the rest after evapi_gate_take). */
size_t evapi_gate_feed(struct evapi_gate *g, const char *data, size_t n);

/* The oldest message whose head is done (its body may not be), or NULL. */
static inline struct evapi_msg *
evapi_gate_front(const struct evapi_gate *g)
{
	return g->first;
}
/* Remove the front message (complete) from the queue; the caller owns it
 * and gives it back with g->release. */
struct evapi_msg *evapi_gate_take(struct evapi_gate *g);
/* Refused, and no earlier message is left to answer first: the refusal
 * is due now. */
int evapi_gate_refusal_due(const struct evapi_gate *g);
/* The head the refusal came in, as far as it came (for the log). */
const char *evapi_gate_refused_head(const struct evapi_gate *g, size_t *len);

#endif
