/*
 * expose.c - the text exposition format 0.0.4, as Prometheus's client
 * libraries write it (expose.h): "# HELP" and "# TYPE" before a metric's
 * series; label values with \, " and newline escaped (HELP: \ and
 * newline); a histogram as cumulative _bucket series ending with
 * le="+Inf" (equal to _count), then _sum and _count; numbers as Go's
 * strconv writes them: shortest text that reads back the same, +Inf,
 * -Inf, NaN.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expose.h"

void
expose_init(struct expose *e, size_t hint)
{
	e->len = 0;
	e->cap = hint < 4096 ? 4096 : hint;
	e->p = malloc(e->cap);
	e->failed = e->p == NULL;
}

void
expose_free(struct expose *e)
{
	free(e->p);
	e->p = NULL;
	e->len = e->cap = 0;
}

static void
put(struct expose *e, const char *s, size_t n)
{
	char *p;
	size_t cap;

	if (e->failed)
		return;
	if (e->len + n > e->cap) {
		for (cap = e->cap; cap < e->len + n; cap *= 2)
			;
		if ((p = realloc(e->p, cap)) == NULL) {
			e->failed = 1;
			return;
		}
		e->p = p;
		e->cap = cap;
	}
	memcpy(e->p + e->len, s, n);
	e->len += n;
}

static void
puts_(struct expose *e, const char *s)
{
	put(e, s, strlen(s));
}

/* S with \ and newline escaped, and " too when QUOTE. */
static void
put_escaped(struct expose *e, const char *s, int quote)
{
	const char *run = s;

	for (; *s != '\0'; s++) {
		const char *esc = *s == '\\'		 ? "\\\\"
				  : *s == '\n'		 ? "\\n"
				  : (quote && *s == '"') ? "\\\""
							 : NULL;

		if (esc == NULL)
			continue;
		put(e, run, (size_t)(s - run));
		puts_(e, esc);
		run = s + 1;
	}
	put(e, run, (size_t)(s - run));
}

/* Decimal digits of V, without printf: most values are counts. */
static void
put_u64(struct expose *e, unsigned long long v)
{
	char buf[24];
	size_t i = sizeof(buf);

	do
		buf[--i] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	put(e, buf + i, sizeof(buf) - i);
}

/* V into BUF (32 bytes) as the shortest decimal that reads back as V. */
static void
format_number(char *buf, double v)
{
	int prec;

	if (isnan(v)) {
		strcpy(buf, "NaN");
		return;
	}
	if (isinf(v)) {
		strcpy(buf, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	for (prec = 15; prec < 17; prec++) {
		snprintf(buf, 32, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			return;
	}
	snprintf(buf, 32, "%.17g", v);
}

static void
put_number(struct expose *e, double v)
{
	char buf[32];

	/* Whole numbers (counts) as integers; no libm needed. */
	if (v >= 0 && v < 1e15 && v == (double)(long long)v) {
		put_u64(e, (unsigned long long)v);
		return;
	}
	format_number(buf, v);
	puts_(e, buf);
}

/* NAME SUFFIX{labels[,le="LE"]} and a space. */
static void
series_start(struct expose *e, const struct evapi_metric_info *m,
	     const struct evapi_sample *s, const char *suffix, const char *le)
{
	size_t i;

	puts_(e, m->name);
	puts_(e, suffix);
	if (m->nlabels > 0 || le != NULL) {
		put(e, "{", 1);
		for (i = 0; i < m->nlabels; i++) {
			if (i > 0)
				put(e, ",", 1);
			puts_(e, m->labels[i]);
			put(e, "=\"", 2);
			put_escaped(e, s->values[i], 1);
			put(e, "\"", 1);
		}
		if (le != NULL) {
			puts_(e, m->nlabels > 0 ? ",le=\"" : "le=\"");
			puts_(e, le);
			put(e, "\"", 1);
		}
		put(e, "}", 1);
	}
	put(e, " ", 1);
}

static void
histogram(struct expose *e, const struct evapi_metric_info *m,
	  const struct evapi_sample *s)
{
	size_t b;

	for (b = 0; b <= m->nbounds && b < 65; b++) {
		series_start(e, m, s, "_bucket", e->le[b]);
		put_u64(e, s->buckets[b]);
		put(e, "\n", 1);
	}
	series_start(e, m, s, "_sum", NULL);
	put_number(e, s->sum);
	put(e, "\n", 1);
	series_start(e, m, s, "_count", NULL);
	put_u64(e, s->count);
	put(e, "\n", 1);
}

/* The le values of M's buckets, as Prometheus's clients write them. */
static void
format_bounds(struct expose *e, const struct evapi_metric_info *m)
{
	size_t b;

	for (b = 0; b < m->nbounds && b < 64; b++)
		format_number(e->le[b], m->bounds[b]);
	strcpy(e->le[b], "+Inf");
}

static const char *
type_name(int type)
{
	switch (type) {
	case EVAPI_METRIC_COUNTER:
		return "counter";
	case EVAPI_METRIC_HISTOGRAM:
		return "histogram";
	case EVAPI_METRIC_GAUGE:
		return "gauge";
	default:
		return "untyped";
	}
}

int
expose_sample(const struct evapi_metric_info *m, const struct evapi_sample *s,
	      void *arg)
{
	struct expose *e = arg;

	if (s == NULL) {
		puts_(e, "# HELP ");
		puts_(e, m->name);
		put(e, " ", 1);
		put_escaped(e, m->help, 0);
		puts_(e, "\n# TYPE ");
		puts_(e, m->name);
		put(e, " ", 1);
		puts_(e, type_name(m->type));
		put(e, "\n", 1);
		if (m->type == EVAPI_METRIC_HISTOGRAM)
			format_bounds(e, m);
	} else if (m->type == EVAPI_METRIC_HISTOGRAM) {
		histogram(e, m, s);
	} else {
		series_start(e, m, s, "", NULL);
		put_number(e, s->value);
		put(e, "\n", 1);
	}
	return e->failed ? EVAPI_ERR : EVAPI_OK;
}
