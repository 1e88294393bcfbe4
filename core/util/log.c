/*
 * log.c - one JSON object per line on stdout.
 *
 * Each line is formatted into a stack buffer and written with a single
 * write(2), so lines from several event-loop threads never interleave and
 * no lock is needed. Lines longer than the buffer are cut, not split.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define LOG_LINE_MAX 4096

int evapi_log_level = EVAPI_LOG_INFO;
int evapi_log_plain;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

int
evapi_log_level_parse(const char *s)
{
	int i;

	if (s == NULL)
		return -1;
	for (i = 0; i < 4; i++)
		if (strcmp(s, level_names[i]) == 0)
			return i;
	return -1;
}

const char *
evapi_log_level_name(int level)
{
	return (level >= 0 && level < 4) ? level_names[level] : "info";
}

struct line {
	char buf[LOG_LINE_MAX];
	size_t len;
};

static void
put(struct line *l, const char *s, size_t n)
{
	if (n > sizeof(l->buf) - 2 - l->len)
		n = sizeof(l->buf) - 2 - l->len;
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

/* Room kept at the end of a line for a closing quote, "}" and "\n". */
#define LINE_RESERVE 3

/* A JSON string with the escapes RFC 8259 requires. Bytes outside ASCII
 * are escaped as \u00XX (read as Latin-1), so a line is valid UTF-8 JSON
 * whatever a client sent; a string too long for the line is cut, and its
 * closing quote always written. */
static void
put_json_string(struct line *l, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	size_t limit = sizeof(l->buf) - 2 - LINE_RESERVE - 6;

	put(l, "\"", 1);
	for (; *p != '\0' && l->len < limit; p++) {
		char esc[6] = {'\\', 'u', '0', '0', 0, 0};

		switch (*p) {
		case '"': put(l, "\\\"", 2); break;
		case '\\': put(l, "\\\\", 2); break;
		case '\n': put(l, "\\n", 2); break;
		case '\r': put(l, "\\r", 2); break;
		case '\t': put(l, "\\t", 2); break;
		default:
			if (*p < 0x20 || *p >= 0x7f) {
				esc[4] = hex[*p >> 4];
				esc[5] = hex[*p & 15];
				put(l, esc, 6);
			} else {
				put(l, (const char *)p, 1);
			}
		}
	}
	l->len = l->len < limit + 6 ? l->len : limit + 6;
	l->buf[l->len++] = '"';
}

static void
put_time(struct line *l)
{
	struct timeval tv;
	struct tm tm;
	char ts[40];
	int n;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n = snprintf(ts, sizeof(ts), "\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\"",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		     tm.tm_min, tm.tm_sec, (long)(tv.tv_usec / 1000));
	put(l, ts, (size_t)n);
}

/* evapi_log_plain: "evapi: warning: MSG (KEY=VALUE, ...)" on stderr. */
static void
plain_line(int level, const char *msg, va_list ap)
{
	char buf[LOG_LINE_MAX];
	const char *k, *v, *sep = " (";
	size_t o = 0;
	int n;

	n = snprintf(buf, sizeof(buf), "%s: %s",
		     level >= EVAPI_LOG_ERROR ? "error" : "warning", msg);
	o = n > 0 ? (size_t)n : 0;
	while ((k = va_arg(ap, const char *)) != NULL && o < sizeof(buf) - 1) {
		v = va_arg(ap, const char *);
		n = snprintf(buf + o, sizeof(buf) - o, "%s%s=%s", sep, k, v);
		o += n > 0 ? (size_t)n : 0;
		sep = ", ";
	}
	if (o < sizeof(buf) - 1 && sep[0] == ',')
		buf[o++] = ')';
	buf[o < sizeof(buf) ? o : sizeof(buf) - 1] = '\0';
	evapi_err("%s", buf);
}

void
evapi_core_logv(int level, const char *msg, va_list ap)
{
	struct line l;
	const char *k, *v;
	ssize_t w;

	if (evapi_log_plain) {
		if (level >= EVAPI_LOG_WARN)
			plain_line(level, msg, ap);
		return;
	}
	if (level < evapi_log_level)
		return;
	l.len = 0;
	put(&l, "{\"time\":", 8);
	put_time(&l);
	put(&l, ",\"level\":", 9);
	put_json_string(&l, evapi_log_level_name(level));
	put(&l, ",\"msg\":", 7);
	put_json_string(&l, msg);
	while ((k = va_arg(ap, const char *)) != NULL) {
		v = va_arg(ap, const char *);
		/* No room for another field: end the object here. */
		if (l.len + 16 > sizeof(l.buf) - 2 - LINE_RESERVE)
			break;
		put(&l, ",", 1);
		put_json_string(&l, k);
		put(&l, ":", 1);
		put_json_string(&l, v);
	}
	/* put() always leaves room for the closing brace and newline. */
	l.buf[l.len++] = '}';
	l.buf[l.len++] = '\n';
	do {
		w = write(STDOUT_FILENO, l.buf, l.len);
	} while (w < 0 && errno == EINTR);
}

void
evapi_core_log(int level, const char *msg, ...)
{
	va_list ap;

	va_start(ap, msg);
	evapi_core_logv(level, msg, ap);
	va_end(ap);
}

void
evapi_err(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	fputs("evapi: ", stderr);
	fwrite(buf, 1, (size_t)n, stderr);
	fflush(stderr);
}

void
evapi_die_config(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	evapi_err("%s", buf);
	exit(EVAPI_EXIT_CONFIG);
}
