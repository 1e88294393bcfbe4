/*
 * settings.c - typed settings (settings.h).
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/chars.h"
#include "util/num.h"
#include "settings.h"

/* Quote a value for an error line: bounded, control bytes escaped, so a
 * hostile value cannot forge extra log lines. */
static void
quote_value(const char *value, char *out, size_t outlen)
{
	size_t o = 0, i;

	if (outlen < 8) {
		if (outlen > 0)
			out[0] = '\0';
		return;
	}
	out[o++] = '"';
	for (i = 0; value[i] != '\0' && o + 6 < outlen; i++) {
		unsigned char c = (unsigned char)value[i];

		if (c < 0x20 || c == 0x7f || c == '"' || c == '\\')
			o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	if (value[i] != '\0' && o + 4 < outlen) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o++] = '"';
	out[o] = '\0';
}

void
evapi_config_error_line(char *err, size_t errlen, const char *name,
			const char *value, const char *expected)
{
	char q[160];

	if (value == NULL) {
		snprintf(err, errlen, "%s is not set: expected %s", name,
			 expected);
		return;
	}
	quote_value(value, q, sizeof(q));
	snprintf(err, errlen, "%s=%s is not valid: expected %s", name, q,
		 expected);
}

void
evapi_setting_expected(const struct evapi_setting *s, char *out, size_t n)
{
	switch (s->type) {
	case EVAPI_SETTING_INT:
		snprintf(out, n, "%sa whole number from %lld to %lld",
			 (s->flags & EVAPI_SETTING_AUTO) ? "auto or " : "",
			 s->min, s->max);
		break;
	case EVAPI_SETTING_DURATION:
		snprintf(out, n, "a duration from %lldms to %lldms (e.g. 500ms, "
				 "2s, 1m; a bare number is milliseconds)",
			 s->min, s->max);
		break;
	case EVAPI_SETTING_BOOL:
		snprintf(out, n, "on or off (true/false, 1/0)");
		break;
	case EVAPI_SETTING_ENUM: {
		size_t o = (size_t)snprintf(out, n, "one of ");
		const char *c;

		for (c = s->choices ? s->choices : ""; *c && o + 2 < n; c++) {
			if (*c == '|') {
				out[o++] = ',';
				out[o++] = ' ';
			} else {
				out[o++] = *c;
			}
		}
		out[o < n ? o : n - 1] = '\0';
		break;
	}
	case EVAPI_SETTING_STRING:
	case EVAPI_SETTING_SECRET:
		snprintf(out, n, "%s%s of %lld to %lld bytes",
			 (s->flags & EVAPI_SETTING_ASCII) ? "printable ASCII "
							   : "",
			 s->type == EVAPI_SETTING_SECRET ? "a secret" : "text",
			 s->min, s->max);
		break;
	default:
		if (s->type == EVAPI_SETTING_ADDRESS)
			snprintf(out, n, "a literal IPv4 or IPv6 address");
		else if (s->type == EVAPI_SETTING_PATHS)
			snprintf(out, n, "absolute directories separated by "
					 "':'");
		else if (s->type == EVAPI_SETTING_PLUGINS)
			snprintf(out, n, "comma-separated plugin names "
					 "matching [a-z0-9_-]+");
		else
			snprintf(out, n, "a valid value");
	}
}

static int
bad(const struct evapi_setting *s, const char *raw, char *err, size_t errlen)
{
	char exp[256];

	evapi_setting_expected(s, exp, sizeof(exp));
	if (s->type == EVAPI_SETTING_SECRET) {
		snprintf(err, errlen, "%s is not valid (its value is secret "
				      "and not shown): expected %s",
			 s->name, exp);
		return EVAPI_ERR;
	}
	evapi_config_error_line(err, errlen, s->name, raw, exp);
	return EVAPI_ERR;
}

static int
text_ok(const struct evapi_setting *s, const char *v)
{
	size_t i, n = strlen(v);

	if ((long long)n < s->min || (long long)n > s->max)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c < 0x20 || c == 0x7f)
			return 0;
		if ((s->flags & EVAPI_SETTING_ASCII) && c >= 0x80)
			return 0;
	}
	return 1;
}

static int
enum_ok(const struct evapi_setting *s, const char *v)
{
	const char *c = s->choices ? s->choices : "";
	size_t n = strlen(v);

	while (*c != '\0') {
		size_t len = strcspn(c, "|");

		if (len == n && memcmp(c, v, n) == 0)
			return 1;
		c += len;
		if (*c == '|')
			c++;
	}
	return 0;
}

static int
parse_bool(const char *v, long long *out)
{
	if (evapi_streqi(v, "on") || evapi_streqi(v, "true") ||
	    strcmp(v, "1") == 0) {
		*out = 1;
		return 1;
	}
	if (evapi_streqi(v, "off") || evapi_streqi(v, "false") ||
	    strcmp(v, "0") == 0) {
		*out = 0;
		return 1;
	}
	return 0;
}

/* "::1", "127.0.0.1" or the bracketed form of URLs "[::1]"; stored bare. */
static char *
parse_address(const char *v)
{
	unsigned char buf[16];
	size_t len = strlen(v);
	char addr[64];

	if (len == 0 || len >= sizeof(addr))
		return NULL;
	if (v[0] == '[' && len > 2 && v[len - 1] == ']') {
		memcpy(addr, v + 1, len - 2);
		addr[len - 2] = '\0';
	} else {
		memcpy(addr, v, len + 1);
	}
	if (inet_pton(AF_INET, addr, buf) != 1 &&
	    inet_pton(AF_INET6, addr, buf) != 1)
		return NULL;
	return strdup(addr);
}

static int
paths_ok(const char *v)
{
	const char *p = v;

	while (*p != '\0') {
		size_t n = strcspn(p, ":");

		if (n == 0 || p[0] != '/')
			return 0;
		p += n;
		if (*p == ':')
			p++;
		if (*p == '\0' && p[-1] == ':')
			return 0;
	}
	return strlen(v) < 4096;
}

static int
parse_value(const struct evapi_setting *s, const char *v,
	    struct evapi_value *out)
{
	uint64_t u;

	out->set = 1;
	switch (s->type) {
	case EVAPI_SETTING_INT:
		if ((s->flags & EVAPI_SETTING_AUTO) && strcmp(v, "auto") == 0) {
			out->is_auto = 1;
			out->i = 0;
			return 1;
		}
		if (evapi_parse_u64(v, strlen(v), (uint64_t)s->max, &u) !=
			    EVAPI_OK ||
		    (long long)u < s->min)
			return 0;
		out->i = (long long)u;
		return 1;
	case EVAPI_SETTING_DURATION:
		if (evapi_parse_duration_ms(v, &u) != EVAPI_OK ||
		    (long long)u < s->min || (long long)u > s->max)
			return 0;
		out->i = (long long)u;
		return 1;
	case EVAPI_SETTING_BOOL:
		return parse_bool(v, &out->i);
	case EVAPI_SETTING_ENUM:
		if (!enum_ok(s, v))
			return 0;
		break;
	case EVAPI_SETTING_STRING:
	case EVAPI_SETTING_SECRET:
		if (!text_ok(s, v))
			return 0;
		break;
	default:
		if (s->type == EVAPI_SETTING_ADDRESS) {
			out->s = parse_address(v);
			return out->s != NULL;
		}
		if (s->type == EVAPI_SETTING_PATHS && !paths_ok(v))
			return 0;
		break;
	}
	out->s = strdup(v);
	return out->s != NULL;
}

int
evapi_setting_parse(const struct evapi_setting *s, const char *raw,
		    struct evapi_value *out, char *err, size_t errlen)
{
	const char *v = (raw != NULL && raw[0] != '\0') ? raw : NULL;
	char exp[256];

	memset(out, 0, sizeof(*out));
	if (v == NULL)
		v = s->default_value;
	if (v == NULL) {
		if (!(s->flags & EVAPI_SETTING_REQUIRED))
			return EVAPI_OK;
		evapi_setting_expected(s, exp, sizeof(exp));
		evapi_config_error_line(err, errlen, s->name, NULL, exp);
		return EVAPI_ERR;
	}
	if (!parse_value(s, v, out)) {
		evapi_value_clear(out);
		return bad(s, v, err, errlen);
	}
	return EVAPI_OK;
}

void
evapi_value_clear(struct evapi_value *v)
{
	free(v->s);
	memset(v, 0, sizeof(*v));
}

int
evapi_setting_valid(const struct evapi_setting *s, const char **why)
{
	size_t i;

	if (s->name == NULL || s->name[0] == '\0') {
		*why = "a setting without a name";
		return 0;
	}
	for (i = 0; s->name[i] != '\0'; i++)
		if (!((s->name[i] >= 'A' && s->name[i] <= 'Z') ||
		      (s->name[i] >= '0' && s->name[i] <= '9') ||
		      s->name[i] == '_')) {
			*why = "a setting's name is upper case letters, digits "
			       "and '_'";
			return 0;
		}
	if (s->type < EVAPI_SETTING_INT || s->type > EVAPI_SETTING_SECRET) {
		*why = "a setting of an unknown type";
		return 0;
	}
	if (s->min > s->max && s->type != EVAPI_SETTING_BOOL &&
	    s->type != EVAPI_SETTING_ENUM) {
		*why = "a setting whose min is above its max";
		return 0;
	}
	if (s->type == EVAPI_SETTING_ENUM &&
	    (s->choices == NULL || s->choices[0] == '\0')) {
		*why = "an enum setting without choices";
		return 0;
	}
	if (s->help == NULL) {
		*why = "a setting without help text";
		return 0;
	}
	return 1;
}
