/*
 * registry.c - metric families: the core's (registered first) and the
 * plugins' (in init, through plugin/metrics.c), their names checked
 * against Prometheus's rules, and the lookup of a family's series by
 * label values (plugin.h).
 *
 * The list of families is built on the main thread before any loop runs
 * and never changes while they run: walk.c reads it without a lock. A
 * family's series are appended under its mutex and published with a
 * release store, so a walk on a loop sees whole series or none.
 */
#include "config.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"
#include "util/log.h"
#include "util/utf8.h"

#define MAX_LABELS 16
#define MAX_BOUNDS 64
#define MAX_SERIES 1000
#define MAX_NAME 200
#define MAX_HELP 1024

struct evapi_metric {
	struct evapi_metric_info info; /* points at the copies below */
	char *name, *help;
	char *labels[MAX_LABELS + 1];
	double *bounds;
	const void *owner; /* the plugin's (opaque here); NULL: the core's */
	char *owner_name;  /* for logs: the plugin's name, or "evapi" */
	evapi_collect_fn collect;      /* the core's: samples made at a read */

	pthread_mutex_t mu; /* series lookups and appends */
	struct evapi_series *_Atomic first;
	struct evapi_series *last;
	size_t nseries;
	int warned; /* the series cap was logged */
	struct evapi_metric *next;
};

static struct evapi_metric *first, *last;

/* ---- names ------------------------------------------------------------------
 */

static int
ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && strcmp(s + n - k, suffix) == 0;
}

static int
name_chars(const char *s, int colon)
{
	size_t i;

	if (s == NULL || s[0] == '\0' || (s[0] >= '0' && s[0] <= '9') ||
	    strncmp(s, "__", 2) == 0 || strlen(s) > MAX_NAME)
		return 0;
	for (i = 0; s[i] != '\0'; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' ||
		      (colon && c == ':')))
			return 0;
	}
	return 1;
}

static struct evapi_metric *
find(const char *name)
{
	struct evapi_metric *m;

	for (m = first; m != NULL; m = m->next)
		if (strcmp(m->name, name) == 0)
			return m;
	return NULL;
}

/* Why NAME cannot be a metric of TYPE, or NULL. */
static const char *
name_problem(const char *name, int type)
{
	if (!name_chars(name, 1))
		return "a metric name is [a-zA-Z_:][a-zA-Z0-9_:]* (at most 200 "
		       "bytes, not starting with __)";
	if (type == EVAPI_METRIC_COUNTER && !ends_with(name, "_total"))
		return "a counter's name ends in _total";
	if (type != EVAPI_METRIC_COUNTER && ends_with(name, "_total"))
		return "only a counter's name ends in _total";
	if (ends_with(name, "_bucket") || ends_with(name, "_count") ||
	    ends_with(name, "_sum"))
		return "_bucket, _count and _sum end the series of histograms";
	return NULL;
}

static const char *
labels_problem(const char *const *labels, int type, size_t *n)
{
	size_t i, k;

	for (i = 0; labels != NULL && labels[i] != NULL; i++) {
		if (i == MAX_LABELS)
			return "at most 16 labels";
		if (!name_chars(labels[i], 0))
			return "a label name is [a-zA-Z_][a-zA-Z0-9_]* (not "
			       "starting with __)";
		if (type == EVAPI_METRIC_HISTOGRAM &&
		    strcmp(labels[i], "le") == 0)
			return "le is the histogram's own label";
		for (k = 0; k < i; k++)
			if (strcmp(labels[k], labels[i]) == 0)
				return "a label name appears twice";
	}
	*n = i;
	return NULL;
}

static const char *
bounds_problem(const double *b, size_t n)
{
	size_t i;

	if (n > MAX_BOUNDS)
		return "at most 64 bucket bounds";
	for (i = 0; i < n; i++) {
		if (b[i] != b[i] || b[i] - b[i] != 0)
			return "bucket bounds are finite numbers";
		if (i > 0 && b[i] <= b[i - 1])
			return "bucket bounds increase";
	}
	return NULL;
}

static const char *
help_problem(const char *help)
{
	if (help == NULL || help[0] == '\0')
		return "a metric needs a help line";
	if (strlen(help) > MAX_HELP || !evapi_utf8_valid(help, strlen(help)))
		return "a help line is UTF-8 of at most 1024 bytes";
	return NULL;
}

/* ---- families
 * ----------------------------------------------------------------- */

static void
family_free(struct evapi_metric *m)
{
	struct evapi_series *s, *next;
	size_t i;

	for (s = atomic_load(&m->first); s != NULL; s = next) {
		next = evapi_series_next(s);
		evapi_series_free(s);
	}
	for (i = 0; m->labels[i] != NULL; i++)
		free(m->labels[i]);
	free(m->name);
	free(m->help);
	free(m->owner_name);
	free(m->bounds);
	pthread_mutex_destroy(&m->mu);
	free(m);
}

static struct evapi_metric *
family_make(const char *name, const char *help, int type,
	    const char *const *labels, size_t nlabels, const double *bounds,
	    size_t nbounds, const char *owner_name)
{
	struct evapi_metric *m = calloc(1, sizeof(*m));
	size_t i;

	if (m == NULL)
		return NULL;
	pthread_mutex_init(&m->mu, NULL);
	m->name = strdup(name);
	m->help = strdup(help);
	m->owner_name = strdup(owner_name);
	m->bounds = nbounds ? malloc(nbounds * sizeof(double)) : NULL;
	if (!m->name || !m->help || !m->owner_name || (nbounds && !m->bounds))
		goto fail;
	for (i = 0; i < nlabels; i++)
		if ((m->labels[i] = strdup(labels[i])) == NULL)
			goto fail;
	if (nbounds)
		memcpy(m->bounds, bounds, nbounds * sizeof(double));
	m->info.name = m->name;
	m->info.help = m->help;
	m->info.type = type;
	m->info.labels = (const char *const *)m->labels;
	m->info.nlabels = nlabels;
	m->info.bounds = m->bounds;
	m->info.nbounds = nbounds;
	return m;
fail:
	family_free(m);
	return NULL;
}

static void
append(struct evapi_metric *m)
{
	if (last != NULL)
		last->next = m;
	else
		first = m;
	last = m;
}

struct evapi_metric *
evapi_metric_register(int type, const char *name, const char *help,
		      const char *const *labels, const double *bounds,
		      size_t nbounds, const void *owner, const char *owner_name,
		      const char **why, const struct evapi_metric **other)
{
	struct evapi_metric *m;
	size_t nlabels = 0;

	*other = NULL;
	if ((*why = name_problem(name, type)) != NULL ||
	    (*why = help_problem(help)) != NULL ||
	    (*why = labels_problem(labels, type, &nlabels)) != NULL ||
	    (*why = bounds_problem(bounds, nbounds)) != NULL)
		return NULL;
	if ((*other = find(name)) != NULL) {
		*why = "the name is taken";
		return NULL;
	}
	if (type == EVAPI_METRIC_HISTOGRAM && nbounds == 0) {
		bounds = evapi_stats_bounds_s;
		nbounds = EVAPI_STATS_NBOUNDS;
	}
	if (owner == NULL)
		owner_name = "evapi";
	else if (owner_name == NULL)
		owner_name = "plugin";
	m = family_make(name, help, type, labels, nlabels, bounds, nbounds,
			owner_name);
	if (m == NULL) {
		*why = "out of memory";
		return NULL;
	}
	m->owner = owner;
	append(m);
	return m;
}

int
evapi_metric_core(const char *name, const char *help, int type,
		  const char *const *labels, evapi_collect_fn collect)
{
	const struct evapi_metric *other;
	const char *why;
	struct evapi_metric *m = evapi_metric_register(
		type, name, help, labels, NULL, 0, NULL, NULL, &why, &other);

	if (m == NULL) {
		evapi_core_log(EVAPI_LOG_ERROR, "cannot register a metric",
			       "metric", name, "reason", why, NULL);
		return EVAPI_ERR;
	}
	m->collect = collect;
	return EVAPI_OK;
}

const void *
evapi_metric_owner(const struct evapi_metric *m)
{
	return m->owner;
}

const char *
evapi_metric_owner_name(const struct evapi_metric *m)
{
	return m->owner_name;
}

/* ---- series
 * ---------------------------------------------------------------------- */

static void
warn_cap(struct evapi_metric *m, const char *why)
{
	if (m->warned)
		return;
	m->warned = 1;
	evapi_core_log(EVAPI_LOG_WARN, "metric series refused", "metric",
		       m->name, "plugin", m->owner_name, "reason", why, NULL);
}

/* M's series with VALUES: found, or made and appended. Under M's lock. */
static evapi_series *
lookup(struct evapi_metric *m, const char *const *values)
{
	struct evapi_series *s;

	for (s = atomic_load_explicit(&m->first, memory_order_relaxed);
	     s != NULL; s = evapi_series_next(s))
		if (evapi_series_matches(s, m->info.nlabels, values))
			return s;
	if (m->nseries >= MAX_SERIES) {
		warn_cap(m, "1000 series already: label values come from a "
			    "small fixed set");
		return NULL;
	}
	s = evapi_series_make(m, &m->info, values);
	if (s == NULL)
		return NULL;
	if (m->last != NULL)
		evapi_series_link(m->last, s);
	else
		atomic_store_explicit(&m->first, s, memory_order_release);
	m->last = s;
	m->nseries++;
	return s;
}

evapi_series *
evapi_series_get(evapi_metric *m, ...)
{
	const char *values[MAX_LABELS + 1];
	evapi_series *s;
	size_t i, n = 0;
	va_list ap;

	if (m == NULL)
		return NULL;
	va_start(ap, m);
	while (n <= m->info.nlabels && (values[n] = va_arg(ap, const char *)))
		n++;
	va_end(ap);
	if (n != m->info.nlabels) {
		warn_cap(m, "a series needs one value per label name, then "
			    "NULL");
		return NULL;
	}
	for (i = 0; i < n; i++)
		if (!evapi_utf8_valid(values[i], strlen(values[i]))) {
			warn_cap(m, "a label value is not UTF-8");
			return NULL;
		}
	pthread_mutex_lock(&m->mu);
	s = lookup(m, values);
	pthread_mutex_unlock(&m->mu);
	return s;
}

/* ---- for walk.c
 * ---------------------------------------------------------------- */

struct evapi_metric *
evapi_metric_first(void)
{
	return first;
}

struct evapi_metric *
evapi_metric_next_of(const struct evapi_metric *m)
{
	return m->next;
}

const struct evapi_metric_info *
evapi_metric_info_of(const struct evapi_metric *m)
{
	return &m->info;
}

evapi_collect_fn
evapi_metric_collector(const struct evapi_metric *m)
{
	return m->collect;
}

struct evapi_series *
evapi_metric_series(const struct evapi_metric *m)
{
	return atomic_load_explicit(&((struct evapi_metric *)m)->first,
				    memory_order_acquire);
}

void
evapi_metrics_free(void)
{
	struct evapi_metric *m, *next;

	for (m = first; m != NULL; m = next) {
		next = m->next;
		family_free(m);
	}
	first = last = NULL;
}
