/*
 * etag.c - entity tags of items (etag.h).
 *
 * A tag is "ID-VERSION": the version goes up by one at every change, and
 * the id keeps a tag copied from one item from ever matching another.
 */
#include <stdio.h>
#include <string.h>

#include "etag.h"

void
etag_format(char *out, size_t outlen, const char *id, const char *version)
{
	snprintf(out, outlen, "\"%s-%s\"", id, version);
}

/* The next entity tag of a list at *P: its opaque part (between the
 * quotes) in TAG/LEN, WEAK when W/; 0 at the end, -1 when malformed. */
static int
next_tag(const char **p, const char **tag, size_t *len, int *weak)
{
	const char *s = *p;
	const char *end;

	while (*s == ' ' || *s == '\t' || *s == ',')
		s++;
	if (*s == '\0')
		return 0;
	*weak = 0;
	if (s[0] == 'W' && s[1] == '/') {
		*weak = 1;
		s += 2;
	}
	if (*s != '"' || (end = strchr(s + 1, '"')) == NULL)
		return -1;
	*tag = s + 1;
	*len = (size_t)(end - s - 1);
	*p = end + 1;
	return 1;
}

/* TAG/LEN is "ID-VERSION" for item ID: VERSION into OUT. */
static int
version_of(const char *tag, size_t len, const char *id, char *out,
	   size_t outlen)
{
	size_t idlen = strlen(id), vlen;

	if (len <= idlen + 1 || strncmp(tag, id, idlen) != 0 ||
	    tag[idlen] != '-')
		return 0;
	vlen = len - idlen - 1;
	if (vlen >= outlen || vlen > 19 ||
	    strspn(tag + idlen + 1, "0123456789") < vlen)
		return 0;
	memcpy(out, tag + idlen + 1, vlen);
	out[vlen] = '\0';
	return 1;
}

int
etag_match_versions(const char *header, const char *id, char *out,
		    size_t outlen)
{
	const char *p = header, *tag;
	size_t len, o = 0;
	char v[24];
	int weak, r;

	while (*p == ' ' || *p == '\t')
		p++;
	if (p[0] == '*' && strspn(p + 1, " \t") == strlen(p + 1))
		return 0;
	out[o++] = '{';
	while ((r = next_tag(&p, &tag, &len, &weak)) == 1) {
		/* Strong comparison: a weak tag never matches. */
		if (weak || !version_of(tag, len, id, v, sizeof(v)))
			continue;
		if (o + strlen(v) + 3 > outlen)
			break;
		o += (size_t)snprintf(out + o, outlen - o, "%s%s",
				      out[o - 1] == '{' ? "" : ",", v);
	}
	out[o++] = '}';
	out[o] = '\0';
	return 1;
}

int
etag_none_match(const char *header, const char *etag)
{
	const char *p = header, *tag;
	size_t len, elen = strlen(etag) - 2; /* without its quotes */
	int weak;

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '*')
		return 1;
	while (next_tag(&p, &tag, &len, &weak) == 1)
		if (len == elen && strncmp(tag, etag + 1, len) == 0)
			return 1;
	return 0;
}
