/*
 * redact.c - hide passwords in PostgreSQL connection strings.
 *
 * Handles both forms libpq accepts: URIs (postgres[ql]://user:PASS@host/db?
 * password=PASS) and key=value strings (password=PASS, password='P A S S').
 * It does not need to understand the whole grammar: it only has to never
 * let a password through, so anything after "user:" up to the last '@' of
 * the authority, and the value of any password parameter, becomes "***".
 */
#include "config.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "evapi-internal.h"

struct out {
	char *buf;
	size_t len, cap;
};

static void
emit(struct out *o, const char *s, size_t n)
{
	while (n-- > 0 && o->len + 1 < o->cap)
		o->buf[o->len++] = *s++;
	o->buf[o->len] = '\0';
}

static int
is_uri(const char *s)
{
	return strncmp(s, "postgresql://", 13) == 0 ||
	       strncmp(s, "postgres://", 11) == 0;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

/* Is the parameter name at P (up to '=') "password" once its percent
 * escapes are decoded? libpq decodes them: "%70assword" is a password. */
static int
is_password_param(const char *p, size_t *keylen)
{
	char key[16];
	size_t k = 0, i = 0;

	while (p[i] != '\0' && p[i] != '=' && p[i] != '&' && p[i] != '#') {
		int c = (unsigned char)p[i];

		if (c == '%' && hexval(p[i + 1]) >= 0 && hexval(p[i + 2]) >= 0) {
			c = hexval(p[i + 1]) * 16 + hexval(p[i + 2]);
			i += 2;
		}
		if (k < sizeof(key) - 1)
			key[k++] = (char)c;
		i++;
	}
	key[k] = '\0';
	*keylen = i;
	return p[i] == '=' && strcasecmp(key, "password") == 0;
}

/* URI: userinfo password and ?password= / &password= parameters. */
static void
redact_uri(const char *in, struct out *o)
{
	const char *auth = strstr(in, "://") + 3;
	const char *end = auth + strcspn(auth, "/?#");
	const char *at = NULL, *p, *colon;

	for (p = auth; p < end; p++)
		if (*p == '@')
			at = p;
	emit(o, in, (size_t)(auth - in));
	if (at != NULL) {
		colon = memchr(auth, ':', (size_t)(at - auth));
		if (colon != NULL) {
			emit(o, auth, (size_t)(colon - auth));
			emit(o, ":***", 4);
		} else {
			emit(o, auth, (size_t)(at - auth));
		}
		auth = at;
	}
	/* The path, then the query parameters one by one. */
	p = end + strcspn(end, "?#");
	emit(o, auth, (size_t)(p - auth));
	while (*p != '\0') {
		size_t seg = strcspn(p + 1, "&#") + 1, keylen;

		if ((*p == '?' || *p == '&') &&
		    is_password_param(p + 1, &keylen)) {
			emit(o, p, keylen + 2);
			emit(o, "***", 3);
		} else {
			emit(o, p, seg);
		}
		p += seg;
	}
}

/* key=value: skip a value, quoted or not, as libpq's parser does. */
static const char *
skip_value(const char *p)
{
	if (*p != '\'') {
		while (*p != '\0' && !isspace((unsigned char)*p))
			p++;
		return p;
	}
	for (p++; *p != '\0' && *p != '\''; p++)
		if (*p == '\\' && p[1] != '\0')
			p++;
	return *p == '\'' ? p + 1 : p;
}

static void
redact_kv(const char *in, struct out *o)
{
	const char *p = in, *key, *eq, *val;

	while (*p != '\0') {
		if (isspace((unsigned char)*p)) {
			emit(o, p++, 1);
			continue;
		}
		key = p;
		while (*p != '\0' && *p != '=' && !isspace((unsigned char)*p))
			p++;
		eq = p;
		while (isspace((unsigned char)*p))
			p++;
		if (*p != '=') {
			emit(o, key, (size_t)(p - key));
			continue;
		}
		p++;
		while (isspace((unsigned char)*p))
			p++;
		val = p;
		p = skip_value(p);
		emit(o, key, (size_t)(eq - key));
		emit(o, "=", 1);
		if ((size_t)(eq - key) == 8 && strncasecmp(key, "password", 8) == 0)
			emit(o, "***", 3);
		else
			emit(o, val, (size_t)(p - val));
	}
}

void
evapi_redact_conninfo(const char *in, char *out, size_t outlen)
{
	struct out o = {out, 0, outlen};

	if (outlen == 0)
		return;
	out[0] = '\0';
	if (in == NULL)
		return;
	if (is_uri(in))
		redact_uri(in, &o);
	else
		redact_kv(in, &o);
}
