/*
 * response.c - response heads (response.h).
 *
 * Written with memcpy from pieces in one pass that also counts: no printf
 * per response, and a head that does not fit is sized by the same code.
 * The order is fixed: status line, Date, Content-Type, Content-Length,
 * the plugin's headers, X-Request-Id, Connection.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util/num.h"
#include "request.h"
#include "response.h"
#include "status.h"

const char *
evapi_http_date(void)
{
	static __thread char date[40];
	static __thread time_t formatted = -1;
	time_t now = time(NULL);
	struct tm tm;

	if (now != formatted) {
		gmtime_r(&now, &tm);
		strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
		formatted = now;
	}
	return date;
}

struct out {
	char *p;
	size_t cap, n;
};

static void
put(struct out *o, const char *s, size_t n)
{
	if (o->n + n <= o->cap)
		memcpy(o->p + o->n, s, n);
	o->n += n;
}

static void
puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

/* A header whose name (with its ": ") is a literal. */
#define FIXED(o, name_colon, value)                                         \
	do {                                                                \
		put(o, name_colon, sizeof(name_colon) - 1);                 \
		puts_(o, value);                                            \
		put(o, "\r\n", 2);                                          \
	} while (0)

static void
emit(struct out *o, const struct evapi_head_out *h)
{
	const struct evapi_rheader *x;
	char code[5], len[24];

	code[0] = (char)('0' + h->status / 100 % 10);
	code[1] = (char)('0' + h->status / 10 % 10);
	code[2] = (char)('0' + h->status % 10);
	code[3] = ' ';
	put(o, h->minor == 0 ? "HTTP/1.0 " : "HTTP/1.1 ", 9);
	put(o, code, 4);
	puts_(o, evapi_status_reason(h->status));
	put(o, "\r\n", 2);
	FIXED(o, "Date: ", evapi_http_date());
	if (h->content_type != NULL)
		FIXED(o, "Content-Type: ", h->content_type);
	if (h->has_length) {
		evapi_u64_text(h->length, len);
		FIXED(o, "Content-Length: ", len);
	}
	for (x = h->extra; x != NULL; x = x->next) {
		puts_(o, x->name);
		put(o, ": ", 2);
		puts_(o, x->value);
		put(o, "\r\n", 2);
	}
	if (h->request_id != NULL)
		FIXED(o, "X-Request-Id: ", h->request_id);
	if (h->close)
		put(o, "Connection: close\r\n", 19);
	else if (h->keepalive)
		put(o, "Connection: keep-alive\r\n", 24);
	put(o, "\r\n", 2);
}

size_t
evapi_head_write(char *buf, size_t cap, const struct evapi_head_out *h)
{
	struct out o = {buf, buf != NULL ? cap : 0, 0};

	emit(&o, h);
	return o.n;
}

/* S as the inside of a JSON string, into OUT from O while it fits below
 * LIMIT; returns the new end. */
static size_t
json_escape(char *out, size_t o, size_t limit, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	for (; *s != '\0' && o + 6 <= limit; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20) {
			memcpy(out + o, "\\u00", 4);
			out[o + 4] = hex[c >> 4];
			out[o + 5] = hex[c & 15];
			o += 6;
		} else {
			out[o++] = (char)c;
		}
	}
	return o;
}

size_t
evapi_error_json(char *out, size_t len, int status, const char *message,
		 const char *id)
{
	/* Room kept after the message: the status, and the id (escaped, at
	 * most twice its length). */
	size_t tail = 48 + (id != NULL ? 2 * strlen(id) : 0);
	size_t o;
	int n;

	if (len < tail + 64)
		tail = len / 2; /* never with evapi's own buffers */
	memcpy(out, "{\"error\":\"", 10);
	o = json_escape(out, 10, len - tail, message ? message : "error");
	n = snprintf(out + o, len - o, "\",\"status\":%d", status);
	o += (size_t)n;
	if (id != NULL && o + 20 < len) {
		memcpy(out + o, ",\"request_id\":\"", 15);
		o = json_escape(out, o + 15, len - 4, id);
		out[o++] = '"';
	}
	memcpy(out + o, "}\n", 3); /* with its NUL */
	return o + 2;
}
