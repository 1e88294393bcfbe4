/*
 * collect.c - the core's metrics, summed over the loops' blocks when read
 * (stats.h), and evapi_stats_read for plugins (plugin.h).
 *
 * A series appears once it counted something, as with Prometheus's client
 * libraries, except the fixed sets (listeners, close reasons, refusal
 * reasons), which are always there so that rate() starts from zero.
 */
#include "config.h"

#include <string.h>

#include "stats.h"

typedef int (*emit_fn)(const struct evapi_metric_info *m,
		       const struct evapi_sample *s, void *arg);

static int have_probe_listener;

static unsigned
nlisteners(void)
{
	return have_probe_listener ? EVAPI_LISTENER_N : 1;
}

/* Loop L's block for ROUTE and method M, or NULL when never used. */
static const struct evapi_route_stats *
route_block(unsigned l, unsigned route, unsigned m)
{
	const struct evapi_loop_stats *st = evapi_stats_loop(l);

	if (st == NULL || st->routes == NULL)
		return NULL;
	return atomic_load_explicit(
		&st->routes[(size_t)route * EVAPI_STATS_METHODS + m],
		memory_order_acquire);
}

/* ---- http_requests_total ---------------------------------------------------
 */

static int
requests_of(const struct evapi_metric_info *info, unsigned route, unsigned m,
	    emit_fn fn, void *arg)
{
	uint64_t codes[EVAPI_STATS_NCODES] = {0};
	const struct evapi_route_stats *rs;
	struct evapi_sample s;
	const char *values[3];
	unsigned l, c;
	int any = 0;

	for (l = 0; l < evapi_stats_nloops(); l++)
		if ((rs = route_block(l, route, m)) != NULL) {
			any = 1;
			for (c = 0; c < EVAPI_STATS_NCODES; c++)
				codes[c] += evapi_stat_get(&rs->codes[c]);
		}
	if (!any)
		return EVAPI_OK;
	values[0] = evapi_stats_route_label(route, m);
	values[1] = evapi_stats_method_name(m);
	memset(&s, 0, sizeof(s));
	s.values = values;
	for (c = 0; c < EVAPI_STATS_NCODES; c++) {
		if (codes[c] == 0)
			continue;
		values[2] = evapi_stats_code_label(c);
		s.value = (double)codes[c];
		if (fn(info, &s, arg) != EVAPI_OK)
			return EVAPI_ERR;
	}
	return EVAPI_OK;
}

static int
collect_requests(const struct evapi_metric_info *info, emit_fn fn, void *arg)
{
	unsigned r, m;

	for (r = 0; r < evapi_stats_nroutes(); r++)
		for (m = 0; m < EVAPI_STATS_METHODS; m++)
			if (requests_of(info, r, m, fn, arg) != EVAPI_OK)
				return EVAPI_ERR;
	return EVAPI_OK;
}

/* ---- http_request_duration_seconds
 * ------------------------------------------- */

static int
durations_of(const struct evapi_metric_info *info, unsigned route, unsigned m,
	     emit_fn fn, void *arg)
{
	uint64_t b[EVAPI_STATS_NBOUNDS + 1] = {0}, sum_us = 0, rem_ns = 0;
	uint64_t total = 0;
	const struct evapi_route_stats *rs;
	struct evapi_sample s;
	const char *values[2];
	unsigned l, k;
	int any = 0;

	for (l = 0; l < evapi_stats_nloops(); l++)
		if ((rs = route_block(l, route, m)) != NULL) {
			any = 1;
			for (k = 0; k <= EVAPI_STATS_NBOUNDS; k++)
				b[k] += evapi_stat_get(&rs->buckets[k]);
			sum_us += evapi_stat_get(&rs->sum_us);
			rem_ns += evapi_stat_get(&rs->sum_rem_ns);
		}
	if (!any)
		return EVAPI_OK;
	for (k = 0; k <= EVAPI_STATS_NBOUNDS; k++) {
		total += b[k];
		b[k] = total; /* cumulative: +Inf is the count */
	}
	values[0] = evapi_stats_route_label(route, m);
	values[1] = evapi_stats_method_name(m);
	memset(&s, 0, sizeof(s));
	s.values = values;
	s.buckets = b;
	s.count = total;
	s.sum = (double)sum_us / 1e6 + (double)rem_ns / 1e9;
	return fn(info, &s, arg);
}

static int
collect_durations(const struct evapi_metric_info *info, emit_fn fn, void *arg)
{
	unsigned r, m;

	for (r = 0; r < evapi_stats_nroutes(); r++)
		for (m = 0; m < EVAPI_STATS_METHODS; m++)
			if (durations_of(info, r, m, fn, arg) != EVAPI_OK)
				return EVAPI_ERR;
	return EVAPI_OK;
}

/* ---- in flight, connections, refusals
 * ------------------------------------------ */

static uint64_t
in_flight(void)
{
	const struct evapi_loop_stats *st;
	uint64_t n = 0, done;
	unsigned l;

	for (l = 0; (st = evapi_stats_loop(l)) != NULL; l++) {
		/* ANSWERED first: STARTED read after it is at least as big. */
		done = evapi_stat_get(&st->answered);
		n += evapi_stat_get(&st->started) - done;
	}
	return n;
}

static int
emit_one(const struct evapi_metric_info *info, emit_fn fn, void *arg,
	 const char *const *values, double v)
{
	struct evapi_sample s;

	memset(&s, 0, sizeof(s));
	s.values = values;
	s.value = v;
	return fn(info, &s, arg);
}

static int
collect_in_flight(const struct evapi_metric_info *info, emit_fn fn, void *arg)
{
	return emit_one(info, fn, arg, NULL, (double)in_flight());
}

static uint64_t
closed_of(unsigned listener, int reason)
{
	const struct evapi_loop_stats *st;
	uint64_t n = 0;
	unsigned l;
	int r;

	for (l = 0; (st = evapi_stats_loop(l)) != NULL; l++)
		for (r = 0; r < EVAPI_CLOSE_N; r++)
			if (reason < 0 || r == reason)
				n += evapi_stat_get(&st->closed[listener][r]);
	return n;
}

static uint64_t
accepted_of(unsigned listener)
{
	const struct evapi_loop_stats *st;
	uint64_t n = 0;
	unsigned l;

	for (l = 0; (st = evapi_stats_loop(l)) != NULL; l++)
		n += evapi_stat_get(&st->accepted[listener]);
	return n;
}

static int
collect_open(const struct evapi_metric_info *info, emit_fn fn, void *arg)
{
	const char *values[1];
	uint64_t closed;
	unsigned k;

	for (k = 0; k < nlisteners(); k++) {
		values[0] = evapi_stats_listener_name(k);
		closed = closed_of(k, -1); /* first: accepted is then >= */
		if (emit_one(info, fn, arg, values,
			     (double)(accepted_of(k) - closed)) != EVAPI_OK)
			return EVAPI_ERR;
	}
	return EVAPI_OK;
}

static int
collect_accepted(const struct evapi_metric_info *info, emit_fn fn, void *arg)
{
	const char *values[1];
	unsigned k;

	for (k = 0; k < nlisteners(); k++) {
		values[0] = evapi_stats_listener_name(k);
		if (emit_one(info, fn, arg, values, (double)accepted_of(k)) !=
		    EVAPI_OK)
			return EVAPI_ERR;
	}
	return EVAPI_OK;
}

static int
collect_closed(const struct evapi_metric_info *info, emit_fn fn, void *arg)
{
	const char *values[2];
	unsigned k;
	int r;

	for (k = 0; k < nlisteners(); k++)
		for (r = 0; r < EVAPI_CLOSE_N; r++) {
			values[0] = evapi_stats_listener_name(k);
			values[1] = evapi_stats_close_name(r);
			if (emit_one(info, fn, arg, values,
				     (double)closed_of(k, r)) != EVAPI_OK)
				return EVAPI_ERR;
		}
	return EVAPI_OK;
}

static uint64_t
refused_of(int reason)
{
	const struct evapi_loop_stats *st;
	uint64_t n = 0;
	unsigned l;
	int r;

	for (l = 0; (st = evapi_stats_loop(l)) != NULL; l++)
		for (r = 0; r < EVAPI_REFUSED_N; r++)
			if (reason < 0 || r == reason)
				n += evapi_stat_get(&st->refused[r]);
	return n;
}

static int
collect_refused(const struct evapi_metric_info *info, emit_fn fn, void *arg)
{
	const char *values[1];
	int r;

	for (r = 0; r < EVAPI_REFUSED_N; r++) {
		values[0] = evapi_stats_refusal_name(r);
		if (emit_one(info, fn, arg, values, (double)refused_of(r)) !=
		    EVAPI_OK)
			return EVAPI_ERR;
	}
	return EVAPI_OK;
}

/* ---- registration
 * ---------------------------------------------------------------- */

int
evapi_stats_register_core(int have_probe)
{
	static const char *const route_method_code[] = {"route", "method",
							"code", NULL};
	static const char *const route_method[] = {"route", "method", NULL};
	static const char *const listener[] = {"listener", NULL};
	static const char *const listener_reason[] = {"listener", "reason",
						      NULL};
	static const char *const reason[] = {"reason", NULL};

	have_probe_listener = have_probe;
	if (evapi_metric_core(
		    "http_requests_total",
		    "Requests answered, by route pattern (\"unmatched\" "
		    "when no route matched), method and status code.",
		    EVAPI_METRIC_COUNTER, route_method_code,
		    collect_requests) != EVAPI_OK ||
	    evapi_metric_core(
		    "http_request_duration_seconds",
		    "Time from a request's whole arrival to its answer, "
		    "by route pattern and method.",
		    EVAPI_METRIC_HISTOGRAM, route_method,
		    collect_durations) != EVAPI_OK ||
	    evapi_metric_core("http_requests_in_flight",
			      "Requests being handled now.", EVAPI_METRIC_GAUGE,
			      NULL, collect_in_flight) != EVAPI_OK ||
	    evapi_metric_core("evapi_connections_open",
			      "Client connections open now, by listener.",
			      EVAPI_METRIC_GAUGE, listener,
			      collect_open) != EVAPI_OK ||
	    evapi_metric_core("evapi_connections_accepted_total",
			      "Client connections accepted, by listener.",
			      EVAPI_METRIC_COUNTER, listener,
			      collect_accepted) != EVAPI_OK ||
	    evapi_metric_core(
		    "evapi_connections_closed_total",
		    "Client connections closed, by listener and reason: "
		    "cap (MAX_CONNECTIONS), header_timeout, "
		    "idle_timeout, other.",
		    EVAPI_METRIC_COUNTER, listener_reason,
		    collect_closed) != EVAPI_OK ||
	    evapi_metric_core("evapi_requests_refused_total",
			      "Requests the request checks refused before any "
			      "route, by reason.",
			      EVAPI_METRIC_COUNTER, reason,
			      collect_refused) != EVAPI_OK)
		return EVAPI_ERR;
	return EVAPI_OK;
}

/* ---- evapi_stats_read
 * ---------------------------------------------------------------- */

int
evapi_stats_read(evapi_ctx *ctx, struct evapi_stats *out, size_t size)
{
	struct evapi_stats st;
	const struct evapi_loop_stats *b;
	unsigned k, l;

	(void)ctx;
	if (out == NULL)
		return EVAPI_ERR;
	memset(&st, 0, sizeof(st));
	for (k = 0; k < EVAPI_LISTENER_N; k++) {
		uint64_t closed = closed_of(k, -1);

		st.connections_closed += closed;
		st.connections_closed_cap += closed_of(k, EVAPI_CLOSE_CAP);
		st.connections_closed_header_timeout +=
			closed_of(k, EVAPI_CLOSE_HEADER_TIMEOUT);
		st.connections_closed_idle_timeout +=
			closed_of(k, EVAPI_CLOSE_IDLE_TIMEOUT);
		st.connections_accepted += accepted_of(k);
	}
	st.connections_open = st.connections_accepted - st.connections_closed;
	for (l = 0; (b = evapi_stats_loop(l)) != NULL; l++)
		st.requests += evapi_stat_get(&b->answered);
	st.requests_in_flight = in_flight();
	st.requests_refused = refused_of(-1);
	memcpy(out, &st, size < sizeof(st) ? size : sizeof(st));
	return EVAPI_OK;
}
