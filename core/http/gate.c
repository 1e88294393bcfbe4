/*
 * gate.c - HTTP/1.1 message framing, read strictly as bytes arrive
 * (gate.h).
 */
#include "config.h"

#include <string.h>

#include "util/alloc.h"
#include "util/chars.h"
#include "gate.h"

/* Empty lines tolerated before a request line (RFC 9112 2.2 asks for at
 * least one: clients send a CRLF after a body). */
#define MAX_LEADING_CRLF 4
/* A chunk-size line: at most 16 hex digits, CRLF. */
#define CHUNK_LINE_MAX 18

enum { T_LINE, T_NAME, T_VALUE, T_CR, T_END_CR };

void
evapi_gate_init(struct evapi_gate *g, const struct evapi_gate_limits *lim,
		struct evapi_msg *(*alloc)(void *arg),
		void (*release)(struct evapi_msg *m, void *arg), void *arg)
{
	memset(g, 0, sizeof(*g));
	g->lim = *lim;
	if (g->lim.max_queued == 0)
		g->lim.max_queued = 1;
	g->alloc = alloc;
	g->release = release;
	g->arg = arg;
	g->state = GATE_START;
}

void
evapi_gate_clear(struct evapi_gate *g)
{
	struct evapi_msg *m, *next;

	for (m = g->first; m != NULL; m = next) {
		next = m->next;
		if (m == g->cur)
			g->cur = NULL;
		g->release(m, g->arg);
	}
	if (g->cur != NULL)
		g->release(g->cur, g->arg);
	g->first = g->last = g->cur = NULL;
	g->queued = 0;
}

static size_t
refuse(struct evapi_gate *g, int status, const char *why)
{
	g->state = GATE_REFUSED;
	g->status = status;
	g->why = why;
	return 0;
}

int
evapi_gate_refusal_due(const struct evapi_gate *g)
{
	return g->state == GATE_REFUSED &&
	       (g->first == NULL || !g->first->complete);
}

const char *
evapi_gate_refused_head(const struct evapi_gate *g, size_t *len)
{
	const struct evapi_msg *m = g->cur ? g->cur : g->last;

	if (m == NULL || m->buf == NULL) {
		*len = 0;
		return "";
	}
	*len = m->len;
	return m->buf;
}

struct evapi_msg *
evapi_gate_take(struct evapi_gate *g)
{
	struct evapi_msg *m = g->first;

	if (m == NULL || !m->complete)
		return NULL;
	g->first = m->next;
	if (g->first == NULL)
		g->last = NULL;
	m->next = NULL;
	g->queued--;
	return m;
}

/* ---- messages ---------------------------------------------------------- */

static int
start_message(struct evapi_gate *g)
{
	struct evapi_msg *m = g->alloc(g->arg);

	if (m == NULL)
		return -1;
	m->len = 0;
	m->skip = m->wire = m->head_end = m->body_len = 0;
	m->head_done = m->complete = 0;
	m->next = NULL;
	m->head.max_fields = g->lim.max_fields;
	evapi_head_reset(&m->head);
	g->cur = m;
	g->line_start = 0;
	return 0;
}

static void
enqueue(struct evapi_gate *g, struct evapi_msg *m)
{
	if (g->last != NULL)
		g->last->next = m;
	else
		g->first = m;
	g->last = m;
	g->queued++;
}

static void
message_done(struct evapi_gate *g)
{
	g->cur->complete = 1;
	g->cur = NULL;
	g->line_len = 0;
	g->state = GATE_START;
}

/* The head ended and head.c accepted it: where does the body end? */
static size_t
head_done(struct evapi_gate *g)
{
	struct evapi_msg *m = g->cur;
	const char *why;
	int status;

	status = evapi_head_finish(&m->head, m->buf, &why);
	if (status != 0)
		return refuse(g, status, why);
	m->head_done = 1;
	m->head_end = m->wire;
	enqueue(g, m);
	if (m->head.chunked) {
		g->state = GATE_CHUNK_SIZE;
		g->line_len = 0;
		return 1;
	}
	if (m->head.content_length > g->lim.max_body)
		return refuse(g, 413, "request body larger than MAX_BODY_SIZE");
	if (m->head.content_length > 0) {
		g->left = m->head.content_length;
		g->state = GATE_BODY;
		return 1;
	}
	message_done(g);
	return 1;
}

static int
grow(struct evapi_msg *m, size_t need)
{
	size_t cap = m->cap ? m->cap : 256;
	char *b;

	if (need <= m->cap)
		return 0;
	while (cap < need)
		cap *= 2;
	b = evapi_realloc(m->buf, cap);
	if (b == NULL)
		return -1;
	m->buf = b;
	m->cap = cap;
	return 0;
}

/* ---- the head ------------------------------------------------------------ */

/* Empty lines before a request: skipped, a few of them. LINE_LEN is 1
 * after a CR whose LF has not come yet (it may come in the next read). */
static size_t
feed_start(struct evapi_gate *g, const char *p, size_t n)
{
	size_t used = 0;

	if (g->cur == NULL && start_message(g) != 0)
		return refuse(g, 503, "out of memory");
	for (; used < n; used++) {
		if (p[used] == '\r' && g->line_len == 0) {
			g->line_len = 1;
		} else if (p[used] == '\n' && g->line_len == 1) {
			g->line_len = 0;
			if (g->cur->skip >= 2 * MAX_LEADING_CRLF)
				return refuse(g, 400, "too many empty lines "
						      "before the request");
		} else if (p[used] == '\n') {
			return refuse(g, 400, "bare LF line ending");
		} else if (g->line_len == 1) {
			return refuse(g, 400, "bare CR line ending");
		} else {
			g->state = GATE_HEAD;
			return used;
		}
		g->cur->skip++;
		g->cur->wire++;
	}
	return used;
}

/* One complete line (its LF at buf[end - 1]). */
static size_t
head_line(struct evapi_gate *g, size_t end)
{
	struct evapi_msg *m = g->cur;
	size_t start = g->line_start;
	const char *why;
	int status;

	if (end - start < 2 || m->buf[end - 2] != '\r')
		return refuse(g, 400, "bare LF line ending");
	g->line_start = end;
	if (end - start == 2)
		return head_done(g);
	status = evapi_head_line(&m->head, m->buf, start, end - start - 2,
				 &why);
	if (status != 0)
		return refuse(g, status, why);
	return 1;
}

/* The method comes first and is a short token: a byte that cannot be in
 * one (a TLS handshake, binary noise) is refused as it arrives, not after
 * HEADER_TIMEOUT spent waiting for a line end, and before any length
 * limit, so that the verdict does not depend on how the bytes were cut.
 * P/N: the bytes arriving after the LEN already buffered. */
static int
method_prefix_ok(const struct evapi_msg *m, const char *p, size_t n)
{
	size_t i;

	/* The bytes buffered passed already; a space ended the method. */
	if (m->len > 0 && memchr(m->buf, ' ', m->len < 33 ? m->len : 33) != NULL)
		return 1;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == ' ')
			return 1;
		if (!evapi_ch(c, EVAPI_CH_TCHAR) || m->len + i >= 32)
			return 0;
	}
	return 1;
}

static size_t
feed_head(struct evapi_gate *g, const char *p, size_t n)
{
	struct evapi_msg *m = g->cur;
	size_t used = 0;

	while (used < n && g->state == GATE_HEAD) {
		const char *lf = memchr(p + used, '\n', n - used);
		size_t take = lf ? (size_t)(lf - (p + used)) + 1 : n - used;

		if (m->head.nlines == 0 && !method_prefix_ok(m, p + used, take))
			return refuse(g, 400, "invalid method");
		if (m->len + take > g->lim.max_head) {
			/* Still in the request line: the target is too long. */
			if (m->head.nlines == 0)
				return refuse(g, 414, "request target too long");
			return refuse(g, 431, "request head larger than "
					      "MAX_HEADER_SIZE");
		}
		/* One spare byte: the head is terminated in place later. */
		if (grow(m, m->len + take + 1) != 0)
			return refuse(g, 503, "out of memory");
		memcpy(m->buf + m->len, p + used, take);
		m->len += take;
		m->wire += take;
		used += take;
		if (lf != NULL && head_line(g, m->len) == 0)
			return used;
	}
	return used;
}

/* ---- bodies -------------------------------------------------------------- */

static size_t
feed_body(struct evapi_gate *g, size_t n)
{
	size_t take = g->left < n ? (size_t)g->left : n;

	g->left -= take;
	g->cur->wire += take;
	g->cur->body_len += take;
	if (g->left == 0)
		message_done(g);
	return take;
}

static size_t
chunk_size_line(struct evapi_gate *g)
{
	struct evapi_msg *m = g->cur;
	uint64_t size = 0;
	size_t i, digits = g->line_len - 2;

	if (g->line_len < 2 || g->line[g->line_len - 2] != '\r')
		return refuse(g, 400, "bare LF in chunked framing");
	if (digits == 0)
		return refuse(g, 400, "invalid chunk size");
	for (i = 0; i < digits; i++) {
		int v = evapi_hexval((unsigned char)g->line[i]);

		if (v < 0)
			return refuse(g, 400, g->line[i] == ';'
						      ? "chunk extensions are not "
							"accepted"
						      : "invalid chunk size");
		size = size * 16 + (unsigned)v;
	}
	g->line_len = 0;
	if (size == 0) {
		g->state = GATE_TRAILER;
		g->tstate = T_LINE;
		g->tlen = 0;
		return 1;
	}
	if (size > g->lim.max_body || m->body_len + size > g->lim.max_body)
		return refuse(g, 413, "request body larger than MAX_BODY_SIZE");
	g->left = size;
	g->state = GATE_CHUNK_DATA;
	return 1;
}

static size_t
feed_chunk_size(struct evapi_gate *g, const char *p, size_t n)
{
	size_t used = 0;

	while (used < n) {
		char c = p[used++];

		g->cur->wire++;
		if (g->line_len == CHUNK_LINE_MAX)
			return refuse(g, 400, "invalid chunk size");
		g->line[g->line_len++] = c;
		if (c == '\n')
			return chunk_size_line(g) ? used : 0;
	}
	return used;
}

static size_t
feed_chunk_data(struct evapi_gate *g, size_t n)
{
	size_t take = g->left < n ? (size_t)g->left : n;

	g->left -= take;
	g->cur->wire += take;
	g->cur->body_len += take;
	if (g->left == 0) {
		g->state = GATE_CHUNK_END;
		g->line_len = 0;
	}
	return take;
}

static size_t
feed_chunk_end(struct evapi_gate *g, const char *p, size_t n)
{
	size_t used = 0;

	while (used < n && g->line_len < 2) {
		char want = g->line_len == 0 ? '\r' : '\n';

		if (p[used] != want)
			return refuse(g, 400, "chunk data not followed by CRLF");
		g->line_len++;
		g->cur->wire++;
		used++;
	}
	if (g->line_len == 2) {
		g->line_len = 0;
		g->state = GATE_CHUNK_SIZE;
	}
	return used;
}

/* Trailer fields: checked against the field grammar, then ignored
 * (evhttp no longer merges them into the headers). */
static size_t
feed_trailer(struct evapi_gate *g, const char *p, size_t n)
{
	size_t used = 0;

	while (used < n) {
		unsigned char c = (unsigned char)p[used++];

		g->cur->wire++;
		if (++g->tlen > g->lim.max_head)
			return refuse(g, 431, "trailer larger than "
					      "MAX_HEADER_SIZE");
		switch (g->tstate) {
		case T_LINE:
			if (c == '\r')
				g->tstate = T_END_CR;
			else if (evapi_ch(c, EVAPI_CH_TCHAR))
				g->tstate = T_NAME;
			else
				return refuse(g, 400, "invalid trailer field");
			break;
		case T_NAME:
			if (c == ':')
				g->tstate = T_VALUE;
			else if (!evapi_ch(c, EVAPI_CH_TCHAR))
				return refuse(g, 400, "invalid trailer field");
			break;
		case T_VALUE:
			if (c == '\r')
				g->tstate = T_CR;
			else if (!evapi_ch(c, EVAPI_CH_FIELD))
				return refuse(g, 400, "invalid trailer field");
			break;
		case T_CR:
			if (c != '\n')
				return refuse(g, 400, "bare CR in the trailer");
			g->tstate = T_LINE;
			break;
		case T_END_CR:
			if (c != '\n')
				return refuse(g, 400, "bare CR in the trailer");
			message_done(g);
			return used;
		}
	}
	return used;
}

/* ---- the stream ------------------------------------------------------------ */

size_t
evapi_gate_feed(struct evapi_gate *g, const char *data, size_t n)
{
	size_t done = 0, k;

	while (done < n) {
		const char *p = data + done;
		size_t left = n - done;

		switch (g->state) {
		case GATE_START:
			/* A new message waits until its queue has room. */
			if (g->queued >= g->lim.max_queued)
				return done;
			k = feed_start(g, p, left);
			break;
		case GATE_HEAD:
			k = feed_head(g, p, left);
			break;
		case GATE_BODY:
			k = feed_body(g, left);
			break;
		case GATE_CHUNK_SIZE:
			k = feed_chunk_size(g, p, left);
			break;
		case GATE_CHUNK_DATA:
			k = feed_chunk_data(g, left);
			break;
		case GATE_CHUNK_END:
			k = feed_chunk_end(g, p, left);
			break;
		case GATE_TRAILER:
			k = feed_trailer(g, p, left);
			break;
		case GATE_REFUSED:
		default:
			return done;
		}
		if (g->state == GATE_REFUSED)
			return done;
		done += k;
	}
	return done;
}
