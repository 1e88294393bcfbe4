/*
 * redact.c - hide passwords in PostgreSQL connection strings.
 *
 * Handles both forms libpq accepts: URIs (postgres[ql]://user:PASS@host/db?
 * password=PASS) and key=value strings (password=PASS, password='P A S S',
 * password=P\ A\ S\ S). It does not need to understand the whole grammar:
 * it only has to never let a password through, and when in doubt it hides
 * more than libpq would take as the password:
 *
 *  - URI scheme: matched case-insensitively (a mistyped "POSTGRESQL://" is
 *    still a URI to whoever wrote it, and libpq quotes the whole string in
 *    its error).
 *  - URI userinfo: libpq ends it at the first '@' before the first '/', but
 *    a password with an unencoded '@', '/', '?' or '#' would then leak into
 *    the host, port, path or query. So everything after "user:" up to the
 *    LAST '@' of the whole string becomes "***" (an '@' in a query value
 *    hides a little too much; that is the safe side).
 *  - Parameters: the value of every key containing "password" (password,
 *    sslpassword, any case, percent-escapes decoded as libpq does) becomes
 *    "***". URI values end at '&' only ('#' is not special to libpq);
 *    key=value values follow libpq's conninfo_parse: quoted values end at
 *    an unescaped quote, unquoted ones at unescaped white space, and a
 *    backslash escapes the next character in both.
 *  - Database name: a dbname that is itself a connection string (a URI,
 *    or anything with '=' once percent-decoded) is hidden whole, wherever
 *    it is given (key=value, URI path, ?dbname=). The ready plugin refuses
 *    it, but the refusal quotes DATABASE_URL through here first.
 */
#define _GNU_SOURCE /* strcasestr */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "redact.h"

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

size_t
evapi_pg_uri_prefix(const char *s)
{
	if (strncasecmp(s, "postgresql://", 13) == 0)
		return 13;
	if (strncasecmp(s, "postgres://", 11) == 0)
		return 11;
	return 0;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

/* Does KEY (N bytes) name a password? Any key containing "password", in
 * any case, covers password and sslpassword (and whatever libpq adds). */
static int
is_password_key(const char *key, size_t n)
{
	char buf[64];

	if (n >= sizeof(buf))
		n = sizeof(buf) - 1;
	memcpy(buf, key, n);
	buf[n] = '\0';
	return strcasestr(buf, "password") != NULL;
}

/* Decode the URI parameter name at P (up to '=') into KEY, as libpq does
 * ("%70assword" is a password). Returns its length in P, and 0 when no
 * '=' follows it. */
static size_t
param_key(const char *p, char *key, size_t keysize)
{
	size_t k = 0, i = 0;

	while (p[i] != '\0' && p[i] != '=' && p[i] != '&') {
		int c = (unsigned char)p[i];

		if (c == '%' && hexval(p[i + 1]) >= 0 &&
		    hexval(p[i + 2]) >= 0) {
			c = hexval(p[i + 1]) * 16 + hexval(p[i + 2]);
			i += 2;
		}
		if (k < keysize - 1)
			key[k++] = (char)c;
		i++;
	}
	key[k] = '\0';
	return p[i] == '=' ? i : 0;
}

/* Does the percent-encoded S (N bytes) decode to a connection string: a
 * URI, or anything with an '='? Such a database name is refused by the
 * ready plugin, and may hold a password. */
static int
encoded_conninfo(const char *s, size_t n)
{
	char head[16];
	size_t i, k = 0;

	for (i = 0; i < n; i++) {
		int c = (unsigned char)s[i];

		if (c == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 &&
		    hexval(s[i + 2]) >= 0) {
			c = hexval(s[i + 1]) * 16 + hexval(s[i + 2]);
			i += 2;
		}
		if (c == '=')
			return 1;
		if (k < sizeof(head) - 1)
			head[k++] = (char)c;
	}
	head[k] = '\0';
	return evapi_pg_uri_prefix(head) > 0;
}

/* URI: userinfo password and ?password= / &password= parameters. */
static void
redact_uri(const char *in, size_t prefix, struct out *o)
{
	const char *auth = in + prefix;
	const char *at = strrchr(auth, '@'), *p, *colon, *slash;

	emit(o, in, prefix);
	if (at != NULL) {
		/* libpq's user name ends at the first ':' (or '@'). */
		colon = memchr(auth, ':', (size_t)(at - auth));
		if (colon != NULL) {
			emit(o, auth, (size_t)(colon - auth));
			emit(o, ":***", 4);
		} else {
			emit(o, auth, (size_t)(at - auth));
		}
		auth = at;
	}
	/* Host and path (the database name), then the query parameters one
	 * by one. */
	p = auth + strcspn(auth, "?");
	slash = memchr(auth, '/', (size_t)(p - auth));
	if (slash != NULL &&
	    encoded_conninfo(slash + 1, (size_t)(p - slash - 1))) {
		emit(o, auth, (size_t)(slash + 1 - auth));
		emit(o, "***", 3);
	} else {
		emit(o, auth, (size_t)(p - auth));
	}
	while (*p != '\0') {
		size_t seg = strcspn(p + 1, "&") + 1, keylen;
		char key[64];

		keylen = param_key(p + 1, key, sizeof(key));
		if (keylen > 0 &&
		    (is_password_key(key, strlen(key)) ||
		     (strcmp(key, "dbname") == 0 &&
		      encoded_conninfo(p + keylen + 2, seg - keylen - 2)))) {
			emit(o, p, keylen + 2);
			emit(o, "***", 3);
		} else {
			emit(o, p, seg);
		}
		p += seg;
	}
}

static int
is_dbname_key(const char *key, size_t n)
{
	return n == 6 && strncmp(key, "dbname", 6) == 0;
}

/* A dbname value that is itself a connection string (libpq's expand_dbname
 * form, which evapi refuses) may carry a password anywhere in it: hide the
 * whole value rather than parse a string nested in a string. */
static int
holds_conninfo(const char *val, size_t n)
{
	return memchr(val, '=', n) != NULL ||
	       (n >= 11 && evapi_pg_uri_prefix(val + (*val == '\'' ? 1 : 0)) > 0);
}

/* key=value: skip a value, quoted or not, as libpq's conninfo_parse does
 * (a backslash escapes the next character in both forms). */
static const char *
skip_value(const char *p)
{
	int quoted = *p == '\'';

	for (p += quoted; *p != '\0'; p++) {
		if (*p == '\\') {
			if (p[1] == '\0')
				break;
			p++;
		} else if (quoted ? *p == '\'' : isspace((unsigned char)*p)) {
			return quoted ? p + 1 : p;
		}
	}
	return p;
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
			/* "password secret" is not valid, but its second word
			 * is most likely the password: hide the rest. */
			if (is_password_key(key, (size_t)(eq - key))) {
				emit(o, "***", 3);
				return;
			}
			continue;
		}
		p++;
		while (isspace((unsigned char)*p))
			p++;
		val = p;
		p = skip_value(p);
		emit(o, key, (size_t)(eq - key));
		emit(o, "=", 1);
		if (is_password_key(key, (size_t)(eq - key)))
			emit(o, "***", 3);
		else if (is_dbname_key(key, (size_t)(eq - key)) &&
			 holds_conninfo(val, (size_t)(p - val)))
			emit(o, "***", 3);
		else
			emit(o, val, (size_t)(p - val));
	}
}

void
evapi_pg_redact(const char *in, char *out, size_t outlen)
{
	struct out o = {out, 0, outlen};
	size_t prefix;

	if (outlen == 0)
		return;
	out[0] = '\0';
	if (in == NULL)
		return;
	prefix = evapi_pg_uri_prefix(in);
	if (prefix > 0)
		redact_uri(in, prefix, &o);
	else
		redact_kv(in, &o);
}
