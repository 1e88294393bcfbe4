/*
 * reqid.c - request ids (reqid.h).
 *
 * A made id costs a few stores: 64 random bits drawn once per process
 * (so ids from two instances, or two runs, do not meet), the loop's index
 * and a count that only the loop's thread advances (so no two threads
 * make the same id, and no atomic is needed).
 */
#include "config.h"

#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "gate.h"
#include "plugin/loop.h"
#include "reqid.h"
#include "request.h"
#include "util/num.h"

static char prefix[17];
static _Atomic uint64_t loopless_seq; /* ids made on no loop (never hot) */

void
evapi_reqid_init(void)
{
	static const char hex[] = "0123456789abcdef";
	struct timespec ts;
	uint64_t r = 0;
	int i;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
		/* No entropy yet (early boot): unique enough per process. */
		clock_gettime(CLOCK_REALTIME, &ts);
		r = (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ULL ^
		    (uint64_t)ts.tv_sec << 20 ^ (uint64_t)getpid();
	}
	for (i = 15; i >= 0; i--, r >>= 4)
		prefix[i] = hex[r & 15];
	prefix[16] = '\0';
}

int
evapi_reqid_sane(const char *s)
{
	size_t n;

	if (s == NULL)
		return 0;
	for (n = 0; s[n] != '\0'; n++)
		if (n == EVAPI_REQID_MAX || (unsigned char)s[n] < 0x21 ||
		    (unsigned char)s[n] > 0x7e)
			return 0;
	return n > 0;
}

void
evapi_reqid_make(char *out, struct evapi_loop *loop)
{
	uint64_t seq;
	size_t o = 17;

	if (prefix[0] == '\0')
		evapi_reqid_init();
	memcpy(out, prefix, 16);
	out[16] = '-';
	if (loop != NULL) {
		o += evapi_u64_text(loop->index, out + o);
		seq = ++loop->reqid_seq;
	} else {
		out[o++] = 'm';
		seq = ++loopless_seq;
	}
	out[o++] = '-';
	o += evapi_u64_text(seq, out + o);
	out[o] = '\0';
}

void
evapi_reqid_take(struct evapi_request *req)
{
	const char *v = evapi_head_field(&req->msg.head, req->msg.buf,
					 "x-request-id", 0);

	if (evapi_reqid_sane(v)) {
		req->request_id = v;
		return;
	}
	evapi_reqid_make(req->rid, req->loop);
	req->request_id = req->rid;
}

const char *
evapi_reqid_refused(const struct evapi_gate *g, struct evapi_loop *loop,
		    char *buf)
{
	const struct evapi_msg *m = g->cur ? g->cur : g->last;
	const char *v = NULL;

	if (m != NULL && m->head_done)
		v = evapi_head_field(&m->head, m->buf, "x-request-id", 0);
	if (evapi_reqid_sane(v))
		return v;
	evapi_reqid_make(buf, loop);
	return buf;
}
