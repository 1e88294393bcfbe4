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

#include "conf.h"

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

/* Is WORD one of the comma-separated words of LIST ("cpu,cpuacct")? */
static int
has_word(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (;;) {
		if (strncmp(list, word, n) == 0 &&
		    (list[n] == ',' || list[n] == '\0'))
			return 1;
		list = strchr(list, ',');
		if (list == NULL)
			return 0;
		list++;
	}
}

/* Quota/period rounded up; 0 when there is no limit. */
static unsigned
quota_to_cpus(long long quota, long long period)
{
	if (quota <= 0 || period <= 0)
		return 0;
	return (unsigned)((quota + period - 1) / period);
}

/* The cgroup path of this process for CONTROLLER ("" for cgroup v2),
 * from /proc/self/cgroup; "/" when unknown. In a container the cgroup
 * namespace makes this "/", on a host it is the service's own group. */
static void
own_cgroup(const char *controller, char *out, size_t outlen)
{
	char line[512];
	FILE *f = fopen("/proc/self/cgroup", "re");

	snprintf(out, outlen, "/");
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *ctrl = strchr(line, ':'), *path;

		if (ctrl == NULL || (path = strchr(++ctrl, ':')) == NULL)
			continue;
		*path++ = '\0';
		path[strcspn(path, "\n")] = '\0';
		if (controller[0] == '\0' ? ctrl[0] == '\0'
					  : has_word(ctrl, controller)) {
			snprintf(out, outlen, "%s", path);
			break;
		}
	}
	fclose(f);
}

static unsigned
cgroup2_cpus(void)
{
	char path[600], own[512], line[128], max[32];
	long long period = 0, quota;
	unsigned cpus = 0;
	FILE *f;

	own_cgroup("", own, sizeof(own));
	snprintf(path, sizeof(path), "/sys/fs/cgroup%s/cpu.max",
		 strcmp(own, "/") == 0 ? "" : own);
	f = fopen(path, "re");
	/* A container without a cgroup namespace sees its host path in
	 * /proc/self/cgroup while its own group is mounted at the root. */
	if (f == NULL)
		f = fopen("/sys/fs/cgroup/cpu.max", "re");
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
	char own[512], q[700], p[700];
	size_t i;

	own_cgroup("cpu", own, sizeof(own));
	if (strcmp(own, "/") == 0)
		own[0] = '\0';
	/* Our own group first; then the mount root, which is our group in a
	 * container whose /proc/self/cgroup still shows the host path. */
	for (i = 0; dirs[i] != NULL; i++) {
		const char *sub[] = {own, ""};
		size_t j;

		for (j = 0; j < 2; j++) {
			snprintf(q, sizeof(q), "%s%s/cpu.cfs_quota_us", dirs[i],
				 sub[j]);
			snprintf(p, sizeof(p), "%s%s/cpu.cfs_period_us",
				 dirs[i], sub[j]);
			if (read_ll(q) != -1 || read_ll(p) != -1)
				return quota_to_cpus(read_ll(q), read_ll(p));
		}
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
