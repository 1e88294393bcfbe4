/*
 * response.c - response heads (response.h).
 *
 * Written with memcpy from pieces, sized first: no printf per response.
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
	size_t n;
};

static void
put(struct out *o, const char *s, size_t n)
{
	if (o->p != NULL)
		memcpy(o->p + o->n, s, n);
	o->n += n;
}

static void
puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

static void
header(struct out *o, const char *name, const char *value)
{
	puts_(o, name);
	put(o, ": ", 2);
	puts_(o, value);
	put(o, "\r\n", 2);
}

/* With O->p NULL, only counts. */
static void
emit(struct out *o, const struct evapi_head_out *h)
{
	const struct evapi_rheader *x;
	char code[5], len[24];

	code[0] = (char)('0' + h->status / 100 % 10);
	code[1] = (char)('0' + h->status / 10 % 10);
	code[2] = (char)('0' + h->status % 10);
	code[3] = ' ';
	code[4] = '\0';
	puts_(o, h->minor == 0 ? "HTTP/1.0 " : "HTTP/1.1 ");
	put(o, code, 4);
	puts_(o, evapi_status_reason(h->status));
	put(o, "\r\n", 2);
	header(o, "Date", evapi_http_date());
	if (h->content_type != NULL)
		header(o, "Content-Type", h->content_type);
	if (h->has_length) {
		evapi_u64_text(h->length, len);
		header(o, "Content-Length", len);
	}
	for (x = h->extra; x != NULL; x = x->next)
		header(o, x->name, x->value);
	if (h->request_id != NULL)
		header(o, "X-Request-Id", h->request_id);
	if (h->close)
		header(o, "Connection", "close");
	else if (h->keepalive)
		header(o, "Connection", "keep-alive");
	put(o, "\r\n", 2);
}

size_t
evapi_head_size(const struct evapi_head_out *h)
{
	struct out o = {NULL, 0};

	emit(&o, h);
	return o.n;
}

size_t
evapi_head_write(char *buf, const struct evapi_head_out *h)
{
	struct out o = {buf, 0};

	emit(&o, h);
	return o.n;
}

size_t
evapi_error_json(char *out, size_t len, int status, const char *message)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0, i;
	int n;

	if (message == NULL)
		message = "error";
	n = snprintf(out, len, "{\"error\":\"");
	o = (size_t)n;
	for (i = 0; message[i] != '\0' && o + 8 < len - 32; i++) {
		unsigned char c = (unsigned char)message[i];

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
	n = snprintf(out + o, len - o, "\",\"status\":%d}\n", status);
	return o + (size_t)n;
}
