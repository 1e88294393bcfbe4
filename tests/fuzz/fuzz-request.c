/*
 * fuzz-request.c - libFuzzer harness for the request checks and the router.
 *
 * The input is a raw request head. It is split the way evhttp 2.1 splits
 * it (request line at the first and last space, "name: value" at the first
 * colon, CRLF or LF line ends) and handed to reqcheck.c and router.c, and
 * its bytes to the raw scan in two pieces. Properties beyond "no crash, no
 * UB": the scan finds the same in two pieces as in one; an accepted request
 * has a clean target, exactly one Host on HTTP/1.1, at most one
 * Content-Length and no Transfer-Encoding; a route found is the exact
 * raw path.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "evapi-internal.h"
#include "reqcheck.h"

#define MAX_HEADERS 128

struct head {
	char *method, *target;
	int major, minor;
	const char *hdr[2 * MAX_HEADERS];
	size_t n;
};

static void
dummy(struct evhttp_request *req, void *arg)
{
	(void)req;
	(void)arg;
}

static const struct evapi_router *
router(void)
{
	static struct evapi_router r;
	static int ready;

	if (!ready) {
		evapi_router_add(&r, NULL, EVAPI_METHOD_GET, "/health", dummy,
				 NULL);
		evapi_router_add(&r, NULL, EVAPI_METHOD_GET, "/ready", dummy,
				 NULL);
		evapi_router_add(&r, NULL, EVAPI_METHOD_GET, "/version", dummy,
				 NULL);
		ready = 1;
	}
	return &r;
}

/* "HTTP/d.d" with small numbers; -1 otherwise (evhttp rejects those). */
static int
parse_version(const char *v, struct head *h)
{
	char *end;
	long major, minor;

	if (strncmp(v, "HTTP/", 5) != 0 || v[5] < '0' || v[5] > '9')
		return -1;
	major = strtol(v + 5, &end, 10);
	if (*end != '.' || end[1] < '0' || end[1] > '9')
		return -1;
	minor = strtol(end + 1, &end, 10);
	if (*end != '\0' || major > 1 || minor > 1000)
		return -1;
	h->major = (int)major;
	h->minor = (int)minor;
	return 0;
}

static char *
next_line(char **p)
{
	char *line = *p, *nl;
	size_t len;

	if (line == NULL)
		return NULL;
	nl = strchr(line, '\n');
	if (nl != NULL) {
		*nl = '\0';
		*p = nl + 1;
	} else {
		*p = NULL;
	}
	len = strlen(line);
	if (len > 0 && line[len - 1] == '\r')
		line[len - 1] = '\0';
	return line;
}

static int
parse_request_line(char *line, struct head *h)
{
	char *version;

	h->method = strsep(&line, " ");
	if (line == NULL)
		return -1;
	h->target = line;
	version = strrchr(line, ' ');
	if (version == NULL || version == line)
		return -1;
	*version++ = '\0';
	return parse_version(version, h);
}

static int
parse_head(char *buf, struct head *h)
{
	char *p = buf, *line, *value;
	size_t len;

	line = next_line(&p);
	if (line == NULL || parse_request_line(line, h) != 0)
		return -1;
	h->n = 0;
	while ((line = next_line(&p)) != NULL && *line != '\0') {
		if (*line == ' ' || *line == '\t')
			continue; /* obs-fold: the raw scan's business */
		value = line;
		line = strsep(&value, ":");
		if (value == NULL || h->n == MAX_HEADERS)
			return -1;
		value += strspn(value, " ");
		len = strlen(value);
		while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\t'))
			value[--len] = '\0';
		h->hdr[2 * h->n] = line;
		h->hdr[2 * h->n + 1] = value;
		h->n++;
	}
	return 0;
}

static void
check_scan(const uint8_t *data, size_t size)
{
	unsigned s1 = 0, s2 = 0, whole, parts;
	size_t cut = size > 1 ? data[0] % size : 0;

	whole = evapi_reqcheck_scan(&s1, data, size);
	parts = evapi_reqcheck_scan(&s2, data, cut);
	parts |= evapi_reqcheck_scan(&s2, data + cut, size - cut);
	if (whole != parts || s1 != s2)
		abort();
	if (whole != 0 && evapi_reqcheck_raw_why(whole) == NULL)
		abort();
}

static unsigned
count(const struct head *h, const char *name)
{
	unsigned n = 0;
	size_t i;

	for (i = 0; i < h->n; i++)
		if (strcasecmp(h->hdr[2 * i], name) == 0)
			n++;
	return n;
}

static void
check_accepted(const struct head *h)
{
	const unsigned char *t = (const unsigned char *)h->target;

	for (; *t != '\0'; t++)
		if (*t <= 0x20 || *t >= 0x7f)
			abort();
	if (count(h, "host") > 1 || (h->minor == 1 && count(h, "host") != 1) ||
	    count(h, "content-length") > 1 ||
	    count(h, "transfer-encoding") != 0 || h->major != 1)
		abort();
}

static void
check_route(const char *target)
{
	const struct evapi_route *rt = evapi_router_find(router(), target);

	if (rt == NULL)
		return;
	if (strncmp(target, rt->path, rt->path_len) != 0 ||
	    (target[rt->path_len] != '\0' && target[rt->path_len] != '?'))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct head h;
	const char *why = NULL;
	char *buf;
	int status;

	if (size > 16384)
		return 0;
	check_scan(data, size);
	buf = malloc(size + 1);
	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	if (parse_head(buf, &h) == 0) {
		status = evapi_reqcheck(h.method, h.target, h.major, h.minor,
					h.hdr, h.n, &why);
		if (why == NULL || (status != 0 && *why == '\0'))
			abort();
		if (status == 0)
			check_accepted(&h);
		check_route(h.target);
	}
	free(buf);
	return 0;
}
