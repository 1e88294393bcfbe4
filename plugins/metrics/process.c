/*
 * process.c - process_* metrics as the official clients define them
 * (client_golang's process collector, client_python's ProcessCollector):
 * CPU seconds (user + system), resident and virtual memory in bytes,
 * open and maximum file descriptors, the start time in seconds since the
 * epoch; and process_threads.
 *
 * Each is a callback series read at the scrape, from /proc/self (the
 * scratch image has /proc too: the container runtime mounts it). When
 * /proc cannot be read the value is NaN, which Prometheus stores as is.
 */
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "process.h"

enum field { CPU, RSS, VSIZE, THREADS, START, OPEN_FDS, MAX_FDS, NFIELDS };

static double boot_time = NAN; /* /proc/stat btime, read in init */
static const enum field fields[NFIELDS] = {CPU,	  RSS,	    VSIZE,  THREADS,
					   START, OPEN_FDS, MAX_FDS};

static ssize_t
read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n >= 0)
		buf[n] = '\0';
	return n;
}

/* Field NUM (from 1, as proc(5) numbers them) of /proc/self/stat. */
static double
stat_field(int num)
{
	char buf[1024], *p, *end;
	double v;
	int i;

	if (read_file("/proc/self/stat", buf, sizeof(buf)) <= 0)
		return NAN;
	/* The command (field 2) may hold spaces and parentheses: the fields
	 * that follow start after its last ')'. */
	if ((p = strrchr(buf, ')')) == NULL)
		return NAN;
	p++;
	for (i = 3; i < num; i++) {
		p += strspn(p, " ");
		p += strcspn(p, " ");
	}
	p += strspn(p, " ");
	v = strtod(p, &end);
	return end == p ? NAN : v;
}

static double
open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	double n = 0;

	if (d == NULL)
		return NAN;
	/* As the official clients count: the directory's own descriptor
	 * is one of them. */
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static double
max_fds(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return NAN;
	return rl.rlim_cur == RLIM_INFINITY ? INFINITY : (double)rl.rlim_cur;
}

static double
read_field(void *arg)
{
	double ticks = (double)sysconf(_SC_CLK_TCK);

	switch (*(const enum field *)arg) {
	case CPU:
		return (stat_field(14) + stat_field(15)) / ticks;
	case RSS:
		return stat_field(24) * (double)sysconf(_SC_PAGESIZE);
	case VSIZE:
		return stat_field(23);
	case THREADS:
		return stat_field(20);
	case START:
		return boot_time + stat_field(22) / ticks;
	case OPEN_FDS:
		return open_fds();
	case MAX_FDS:
		return max_fds();
	default:
		return NAN;
	}
}

static void
read_boot_time(void)
{
	char *buf = malloc(65536), *p;

	if (buf == NULL)
		return;
	if (read_file("/proc/stat", buf, 65536) > 0 &&
	    (p = strstr(buf, "\nbtime ")) != NULL)
		boot_time = strtod(p + 7, NULL);
	free(buf);
}

int
evapi_process_metrics(evapi_ctx *ctx)
{
	static const struct {
		const char *name, *help;
		int counter;
	} defs[NFIELDS] = {
		{"process_cpu_seconds_total",
		 "Total user and system CPU time spent in seconds.", 1},
		{"process_resident_memory_bytes",
		 "Resident memory size in bytes.", 0},
		{"process_virtual_memory_bytes",
		 "Virtual memory size in bytes.", 0},
		{"process_threads", "Number of OS threads in the process.", 0},
		{"process_start_time_seconds",
		 "Start time of the process since unix epoch in seconds.", 0},
		{"process_open_fds", "Number of open file descriptors.", 0},
		{"process_max_fds", "Maximum number of open file descriptors.",
		 0},
	};
	evapi_metric *m;
	int i;

	read_boot_time();
	for (i = 0; i < NFIELDS; i++) {
		m = defs[i].counter ? evapi_counter_new(ctx, defs[i].name,
							defs[i].help, NULL)
				    : evapi_gauge_new(ctx, defs[i].name,
						      defs[i].help, NULL);
		if (evapi_series_callback(evapi_series_get(m, NULL), read_field,
					  (void *)&fields[i]) != EVAPI_OK)
			return EVAPI_ERR;
	}
	return EVAPI_OK;
}
