/*
 * cpus.c - how many CPUs this process may really use, for WORKERS=auto.
 *
 * A container limited to 2 CPUs on a 64-core host must run 2 loops, not
 * 64: take the smaller of the affinity mask and the cgroup CPU quota
 * (cgroup v2 cpu.max, or v1 cpu.cfs_quota_us / cpu.cfs_period_us).
 */
#define _GNU_SOURCE
#include "config.h"

#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "evapi-internal.h"

static unsigned
affinity_cpus(void)
{
	cpu_set_t set;
	long n;

	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return (unsigned)CPU_COUNT(&set);
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}

/* Quota/period rounded up; 0 when there is no limit. */
static unsigned
quota_to_cpus(long long quota, long long period)
{
	if (quota <= 0 || period <= 0)
		return 0;
	return (unsigned)((quota + period - 1) / period);
}

static unsigned
cgroup2_cpus(void)
{
	char line[128], max[32];
	long long period = 0, quota;
	unsigned cpus = 0;
	FILE *f = fopen("/sys/fs/cgroup/cpu.max", "re");

	if (f == NULL)
		return 0;
	if (fgets(line, sizeof(line), f) != NULL &&
	    sscanf(line, "%31s %lld", max, &period) == 2 &&
	    strcmp(max, "max") != 0 && sscanf(max, "%lld", &quota) == 1)
		cpus = quota_to_cpus(quota, period);
	fclose(f);
	return cpus;
}

static long long
read_ll(const char *path)
{
	long long v = -1;
	FILE *f = fopen(path, "re");

	if (f == NULL)
		return -1;
	if (fscanf(f, "%lld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

static unsigned
cgroup1_cpus(void)
{
	static const char *const dirs[] = {"/sys/fs/cgroup/cpu",
					   "/sys/fs/cgroup/cpu,cpuacct", NULL};
	char q[128], p[128];
	size_t i;

	for (i = 0; dirs[i] != NULL; i++) {
		snprintf(q, sizeof(q), "%s/cpu.cfs_quota_us", dirs[i]);
		snprintf(p, sizeof(p), "%s/cpu.cfs_period_us", dirs[i]);
		if (read_ll(q) != -1 || read_ll(p) != -1)
			return quota_to_cpus(read_ll(q), read_ll(p));
	}
	return 0;
}

unsigned
evapi_available_cpus(void)
{
	unsigned n = affinity_cpus(), q = cgroup2_cpus();

	if (q == 0)
		q = cgroup1_cpus();
	if (q > 0 && q < n)
		n = q;
	if (n > EVAPI_MAX_WORKERS)
		n = EVAPI_MAX_WORKERS;
	return n > 0 ? n : 1;
}
