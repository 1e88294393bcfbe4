/*
 * replay.c - runs a libFuzzer harness over its seed corpus and its
 * regressions without libFuzzer, so `make check` (and its sanitizer build)
 * replays every input that once crashed. TAP output, one line per
 * directory; a crash ends the program, which fails the test.
 *
 * Directories: $top_srcdir/tests/fuzz/{corpus,regressions}/EVAPI_FUZZ_NAME,
 * or those given as arguments.
 */
#include "config.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long len;
	int rc = -1;

	if (f == NULL)
		return -1;
	if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0)
		goto out;
	buf = malloc((size_t)len + 1);
	if (buf == NULL || fread(buf, 1, (size_t)len, f) != (size_t)len)
		goto out;
	LLVMFuzzerTestOneInput(buf, (size_t)len);
	rc = 0;
out:
	free(buf);
	fclose(f);
	return rc;
}

/* Replays every regular file in DIR; returns how many, or -1. */
static long
replay_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[4096];
	long n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (replay_file(path) != 0) {
			printf("# cannot read %s\n", path);
			n = -1;
			break;
		}
		n++;
	}
	closedir(d);
	return n;
}

int
main(int argc, char **argv)
{
	const char *top = getenv("top_srcdir");
	char dirs[2][4096];
	const char *list[64];
	int i, n = 0, failed = 0;

	if (argc > 1) {
		for (i = 1; i < argc && n < 64; i++)
			list[n++] = argv[i];
	} else {
		snprintf(dirs[0], sizeof(dirs[0]), "%s/tests/fuzz/corpus/%s",
			 top ? top : ".", EVAPI_FUZZ_NAME);
		snprintf(dirs[1], sizeof(dirs[1]),
			 "%s/tests/fuzz/regressions/%s", top ? top : ".",
			 EVAPI_FUZZ_NAME);
		list[n++] = dirs[0];
		list[n++] = dirs[1];
	}
	printf("1..%d\n", n);
	for (i = 0; i < n; i++) {
		long k = replay_dir(list[i]);

		printf("%sok %d - %s: %ld inputs replayed\n", k < 0 ? "not " : "",
		       i + 1, list[i], k);
		failed |= k < 0;
	}
	return failed;
}
