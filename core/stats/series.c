/*
 * series.c - one series of a plugin's metric: its label values and the
 * cells it counts in (plugin.h, stats.h).
 *
 * A counter or a histogram has one cell per event loop, each on cache
 * lines of its own, written by that loop's thread alone with a plain load
 * and store; and one more cell, shared by every other thread (the main
 * thread in init and fini, a plugin's own threads), written with atomic
 * adds. A reader sums the cells. A gauge is one atomic value: it is set,
 * and a sum of per-thread settings would mean nothing.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "loop/loop.h"
#include "stats.h"

#define LINE 64

struct evapi_series {
	const struct evapi_metric *m;
	int type;
	size_t nbounds;
	const double *bounds;
	char **values;
	double (*fn)(void *arg); /* read at each scrape, when set */
	void *fn_arg;
	_Atomic uint64_t gauge; /* a gauge's value, as a double's bits */
	/* Counter: one count per cell. Histogram: NBOUNDS + 1 bucket counts
	 * (not cumulative) and the sum's bits. */
	unsigned char *cells;
	size_t stride; /* bytes per cell: whole lines */
	unsigned ncells;
	struct evapi_series *_Atomic next;
};

static uint64_t
bits_of(double v)
{
	uint64_t b;

	memcpy(&b, &v, sizeof(b));
	return b;
}

static double
double_of(uint64_t b)
{
	double v;

	memcpy(&v, &b, sizeof(v));
	return v;
}

static size_t
cell_words(const struct evapi_series *s)
{
	return s->type == EVAPI_METRIC_HISTOGRAM ? s->nbounds + 2 : 1;
}

static evapi_stat *
cell(const struct evapi_series *s, unsigned i)
{
	return (evapi_stat *)(void *)(s->cells + (size_t)i * s->stride);
}

struct evapi_series *
evapi_series_make(struct evapi_metric *m, const struct evapi_metric_info *info,
		  const char *const *values)
{
	struct evapi_series *s = calloc(1, sizeof(*s));
	size_t i, size;

	if (s == NULL)
		return NULL;
	s->m = m;
	s->type = info->type;
	s->nbounds = info->nbounds;
	s->bounds = info->bounds;
	s->values = calloc(info->nlabels + 1, sizeof(char *));
	if (s->values == NULL)
		goto fail;
	for (i = 0; i < info->nlabels; i++)
		if ((s->values[i] = strdup(values[i])) == NULL)
			goto fail;
	if (s->type != EVAPI_METRIC_GAUGE) {
		s->ncells = evapi_loop_count() + 1;
		s->stride = (cell_words(s) * sizeof(evapi_stat) + LINE - 1) /
			    LINE * LINE;
		size = s->stride * s->ncells;
		if ((s->cells = aligned_alloc(LINE, size)) == NULL)
			goto fail;
		memset(s->cells, 0, size);
	}
	return s;
fail:
	evapi_series_free(s);
	return NULL;
}

void
evapi_series_free(struct evapi_series *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; s->values != NULL && s->values[i] != NULL; i++)
		free(s->values[i]);
	free(s->values);
	free(s->cells);
	free(s);
}

int
evapi_series_matches(const struct evapi_series *s, size_t n,
		     const char *const *values)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(s->values[i], values[i]) != 0)
			return 0;
	return 1;
}

struct evapi_series *
evapi_series_next(const struct evapi_series *s)
{
	return atomic_load_explicit(&((struct evapi_series *)s)->next,
				    memory_order_acquire);
}

void
evapi_series_link(struct evapi_series *prev, struct evapi_series *s)
{
	atomic_store_explicit(&prev->next, s, memory_order_release);
}

const struct evapi_metric *
evapi_series_metric(const struct evapi_series *s)
{
	return s->m;
}

int
evapi_series_callback_set(struct evapi_series *s, double (*fn)(void *arg),
			  void *arg)
{
	s->fn = fn;
	s->fn_arg = arg;
	return EVAPI_OK;
}

/* ---- updates
 * ----------------------------------------------------------------- */

/* The calling thread's cell, and whether it shares it with others. */
static evapi_stat *
my_cell(const struct evapi_series *s, int *shared)
{
	const evapi_loop *loop = evapi_current_loop();
	unsigned i = loop != NULL ? evapi_loop_index(loop) : s->ncells - 1;

	if (i >= s->ncells - 1)
		i = s->ncells - 1;
	*shared = i == s->ncells - 1;
	return cell(s, i);
}

static void
add(evapi_stat *p, uint64_t n, int shared)
{
	if (shared)
		atomic_fetch_add_explicit(p, n, memory_order_relaxed);
	else
		evapi_stat_add(p, n);
}

static void
add_double(evapi_stat *p, double d, int shared)
{
	uint64_t old = atomic_load_explicit(p, memory_order_relaxed);

	if (!shared) {
		atomic_store_explicit(p, bits_of(double_of(old) + d),
				      memory_order_relaxed);
		return;
	}
	while (!atomic_compare_exchange_weak_explicit(
		p, &old, bits_of(double_of(old) + d), memory_order_relaxed,
		memory_order_relaxed))
		;
}

void
evapi_counter_add(evapi_series *s, uint64_t n)
{
	int shared = 1;

	if (s == NULL || s->type != EVAPI_METRIC_COUNTER || s->fn != NULL)
		return;
	add(my_cell(s, &shared), n, shared);
}

void
evapi_gauge_set(evapi_series *s, double v)
{
	if (s == NULL || s->type != EVAPI_METRIC_GAUGE)
		return;
	atomic_store_explicit(&s->gauge, bits_of(v), memory_order_relaxed);
}

void
evapi_gauge_add(evapi_series *s, double delta)
{
	if (s == NULL || s->type != EVAPI_METRIC_GAUGE)
		return;
	add_double(&s->gauge, delta, 1);
}

void
evapi_histogram_observe(evapi_series *s, double v)
{
	evapi_stat *c;
	size_t b = 0;
	int shared = 1;

	if (s == NULL || s->type != EVAPI_METRIC_HISTOGRAM || isnan(v))
		return;
	c = my_cell(s, &shared);
	while (b < s->nbounds && v > s->bounds[b])
		b++;
	add(&c[b], 1, shared);
	add_double(&c[s->nbounds + 1], v, shared);
}

/* ---- reading
 * ------------------------------------------------------------------- */

static void
read_histogram(const struct evapi_series *s, struct evapi_sample *out,
	       uint64_t *buckets)
{
	uint64_t total = 0;
	double sum = 0;
	size_t b;
	unsigned i;

	for (b = 0; b <= s->nbounds; b++) {
		for (i = 0; i < s->ncells; i++)
			total += evapi_stat_get(&cell(s, i)[b]);
		buckets[b] = total; /* cumulative by construction */
	}
	for (i = 0; i < s->ncells; i++)
		sum += double_of(evapi_stat_get(&cell(s, i)[s->nbounds + 1]));
	out->buckets = buckets;
	out->count = total;
	out->sum = sum;
}

void
evapi_series_read(const struct evapi_series *s,
		  const struct evapi_metric_info *info,
		  struct evapi_sample *out, uint64_t *buckets)
{
	uint64_t total = 0;
	unsigned i;

	(void)info;
	memset(out, 0, sizeof(*out));
	out->values = (const char *const *)s->values;
	if (s->fn != NULL) {
		out->value = s->fn(s->fn_arg);
		return;
	}
	switch (s->type) {
	case EVAPI_METRIC_GAUGE:
		out->value = double_of(evapi_stat_get(&s->gauge));
		break;
	case EVAPI_METRIC_HISTOGRAM:
		read_histogram(s, out, buckets);
		break;
	default:
		for (i = 0; i < s->ncells; i++)
			total += evapi_stat_get(cell(s, i));
		out->value = (double)total;
	}
}
