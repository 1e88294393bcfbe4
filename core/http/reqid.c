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
#include "loop/loop.h"
#include "reqid.h"
#include "request.h"
#include "util/num.h"

static char prefix[17];		      /* the random part, as hex */
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

_Static_assert(sizeof(((struct evapi_loop *)0)->reqid) == EVAPI_REQID_BUF,
	       "the loop's id buffer");

/* LOOP's first id: the random part, its index, count 0. */
static void
loop_start(struct evapi_loop *loop)
{
	char *p = loop->reqid;
	size_t o;

	if (prefix[0] == '\0')
		evapi_reqid_init();
	memcpy(p, prefix, 16);
	p[16] = '-';
	o = 17 + evapi_u64_text(loop->index, p + 17);
	p[o++] = '-';
	loop->reqid_digits = (unsigned char)o;
	p[o++] = '0';
	p[o] = '\0';
	loop->reqid_len = (unsigned char)o;
}

/* The count, one up: decimal text incremented in place (formatting a
 * number per request cost more than the rest of the id). */
static void
count_up(struct evapi_loop *loop)
{
	char *d = loop->reqid + loop->reqid_digits;
	size_t i = (size_t)(loop->reqid_len - loop->reqid_digits);

	while (i-- > 0) {
		if (d[i] != '9') {
			d[i]++;
			return;
		}
		d[i] = '0';
	}
	/* All nines: one digit more (20 digits fit the buffer). */
	memmove(d + 1, d, (size_t)(loop->reqid_len - loop->reqid_digits) + 1);
	d[0] = '1';
	loop->reqid_len++;
}

void
evapi_reqid_make(char *out, struct evapi_loop *loop)
{
	size_t o;

	if (loop == NULL) {
		if (prefix[0] == '\0')
			evapi_reqid_init();
		memcpy(out, prefix, 16);
		memcpy(out + 16, "-m-", 3);
		o = 19 + evapi_u64_text(++loopless_seq, out + 19);
		out[o] = '\0';
		return;
	}
	if (loop->reqid_len == 0)
		loop_start(loop);
	count_up(loop);
	memcpy(out, loop->reqid, (size_t)loop->reqid_len + 1);
}

void
evapi_reqid_take(struct evapi_request *req)
{
	const char *v = req->msg.head.request_id;

	if (v != NULL && evapi_reqid_sane(v)) {
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
		v = m->head.request_id;
	if (evapi_reqid_sane(v))
		return v;
	evapi_reqid_make(buf, loop);
	return buf;
}
