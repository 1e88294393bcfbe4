/*
 * expose.h - the Prometheus text exposition format, version 0.0.4
 * (expose.c): what GET /metrics sends.
 */
#ifndef EVAPI_METRICS_EXPOSE_H
#define EVAPI_METRICS_EXPOSE_H

#include <stddef.h>

#include <evapi/plugin.h>

#define EVAPI_EXPOSE_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* The text being written; FAILED once memory ran out. */
struct expose {
	char *p;
	size_t len, cap;
	int failed;
	/* The current histogram's le values, formatted once per metric. */
	char le[65][32];
};

void expose_init(struct expose *e, size_t hint);
void expose_free(struct expose *e);
/* An evapi_metrics_walk callback: a metric's HELP and TYPE lines (S
 * NULL), or one series' lines. ARG is the struct expose. */
int expose_sample(const struct evapi_metric_info *m,
		  const struct evapi_sample *s, void *arg);

#endif
