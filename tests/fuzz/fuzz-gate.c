/*
 * fuzz-gate.c - libFuzzer harness for the gate (every byte a client sends)
 * and the head parser behind it.
 *
 * The input is a byte stream; its first byte chooses how the stream is cut
 * into reads. Properties beyond "no crash, no UB, no leak": the gate gives
 * the same verdict and the same messages whole and cut; every message it
 * passes has a token method, a target of visible bytes, HTTP/1.0 or 1.1,
 * field names that are tokens and values without CR, LF or NUL, one way
 * to find the body's end, and a body within MAX_BODY_SIZE.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/gate.h"
#include "util/alloc.h"
#include "util/chars.h"

static const struct evapi_gate_limits lim = {1024, 4096, 32, 8};

static struct evapi_msg *
msg_alloc(void *arg)
{
	(void)arg;
	return calloc(1, sizeof(struct evapi_msg));
}

static void
msg_release(struct evapi_msg *m, void *arg)
{
	(void)arg;
	evapi_free(m->buf);
	evapi_head_free(&m->head);
	free(m);
}

static void
check_message(const struct evapi_msg *m)
{
	const struct evapi_head *h = &m->head;
	const char *p;
	size_t i;

	if (!m->complete || (h->minor != 0 && h->minor != 1) ||
	    (h->chunked && h->has_length) || m->body_len > lim.max_body)
		abort();
	for (p = h->method; *p; p++)
		if (!evapi_ch((unsigned char)*p, EVAPI_CH_TCHAR))
			abort();
	for (p = h->target; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			abort();
	for (i = 0; i < h->nfields; i++) {
		const char *n = m->buf + h->fields[i].name_off;
		const char *v = m->buf + h->fields[i].value_off;

		if (strlen(n) != h->fields[i].name_len ||
		    strlen(v) != h->fields[i].value_len)
			abort();
		for (p = v; *p; p++)
			if (*p == '\r' || *p == '\n')
				abort();
	}
}

struct result {
	int status;
	unsigned n;
	uint64_t wire; /* the bytes of all messages passed */
};

static struct result
run(const uint8_t *data, size_t size, size_t step)
{
	struct evapi_gate g;
	struct result r = {0, 0, 0};
	size_t off = 0;

	evapi_gate_init(&g, &lim, msg_alloc, msg_release, NULL);
	while (off < size && g.state != GATE_REFUSED) {
		size_t n = step && size - off > step ? step : size - off;
		size_t took = 0;

		while (took < n && g.state != GATE_REFUSED) {
			struct evapi_msg *m;
			size_t k = evapi_gate_feed(&g, (const char *)data + off +
							       took,
						   n - took);

			took += k;
			while ((m = evapi_gate_take(&g)) != NULL) {
				check_message(m);
				r.n++;
				r.wire += m->wire;
				msg_release(m, NULL);
			}
			/* Nothing taken and nothing read: only a full queue
			 * does that, and taking emptied it. */
			if (k == 0 && g.state != GATE_REFUSED &&
			    evapi_gate_front(&g) == NULL)
				abort();
		}
		off += n;
	}
	r.status = g.state == GATE_REFUSED ? g.status : 0;
	evapi_gate_clear(&g);
	if (r.wire > size)
		abort();
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct result whole, cut;

	if (size < 1 || size > 8192)
		return 0;
	whole = run(data + 1, size - 1, 0);
	cut = run(data + 1, size - 1, 1 + data[0] % 17);
	if (whole.status != cut.status || whole.n != cut.n ||
	    whole.wire != cut.wire)
		abort();
	return 0;
}
