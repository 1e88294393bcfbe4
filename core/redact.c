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
 */
#define _GNU_SOURCE /* strcasestr */
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

/* Length of a "postgresql://" or "postgres://" prefix, any case; 0 if
 * there is none. */
static size_t
uri_prefix(const char *s)
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

/* Is the URI parameter name at P (up to '=') a password once its percent
 * escapes are decoded? libpq decodes them: "%70assword" is a password. */
static int
is_password_param(const char *p, size_t *keylen)
{
	char key[64];
	size_t k = 0, i = 0;

	while (p[i] != '\0' && p[i] != '=' && p[i] != '&') {
		int c = (unsigned char)p[i];

		if (c == '%' && hexval(p[i + 1]) >= 0 && hexval(p[i + 2]) >= 0) {
			c = hexval(p[i + 1]) * 16 + hexval(p[i + 2]);
			i += 2;
		}
		if (k < sizeof(key) - 1)
			key[k++] = (char)c;
		i++;
	}
	*keylen = i;
	return p[i] == '=' && is_password_key(key, k);
}

/* URI: userinfo password and ?password= / &password= parameters. */
static void
redact_uri(const char *in, size_t prefix, struct out *o)
{
	const char *auth = in + prefix;
	const char *at = strrchr(auth, '@'), *p, *colon;

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
	/* Host and path, then the query parameters one by one. */
	p = auth + strcspn(auth, "?");
	emit(o, auth, (size_t)(p - auth));
	while (*p != '\0') {
		size_t seg = strcspn(p + 1, "&") + 1, keylen;

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
		else
			emit(o, val, (size_t)(p - val));
	}
}

void
evapi_redact_conninfo(const char *in, char *out, size_t outlen)
{
	struct out o = {out, 0, outlen};
	size_t prefix;

	if (outlen == 0)
		return;
	out[0] = '\0';
	if (in == NULL)
		return;
	prefix = uri_prefix(in);
	if (prefix > 0)
		redact_uri(in, prefix, &o);
	else
		redact_kv(in, &o);
}
