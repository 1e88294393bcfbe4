/*
 * process.h - the process_* metrics of Prometheus's official client
 * libraries, read from /proc at each scrape (process.c).
 */
#ifndef EVAPI_METRICS_PROCESS_H
#define EVAPI_METRICS_PROCESS_H

#include <evapi/plugin.h>

/* Register process_cpu_seconds_total, process_resident_memory_bytes,
 * process_virtual_memory_bytes, process_open_fds, process_max_fds,
 * process_start_time_seconds and process_threads (in init). */
int evapi_process_metrics(evapi_ctx *ctx);

#endif
