/*
 * pgerr.c - PostgreSQL errors, scrubbed and classified (pgerr.h).
 */
#define _GNU_SOURCE /* strcasestr */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "pgerr.h"

static const char *const reason_str[PGCHECK_NREASONS] = {
	[PGCHECK_OK] = "ok",
	[PGCHECK_TIMEOUT] = "timeout",
	[PGCHECK_REFUSED] = "connection refused",
	[PGCHECK_AUTH] = "authentication failed",
	[PGCHECK_NO_DATABASE] = "database not found",
	[PGCHECK_HOST_NOT_FOUND] = "host not found",
	[PGCHECK_DNS_ERROR] = "name resolution failed",
	[PGCHECK_UNREACHABLE] = "network unreachable",
	[PGCHECK_SHUTTING_DOWN] = "server shutting down",
	[PGCHECK_STARTING_UP] = "server starting up",
	[PGCHECK_TOO_MANY] = "too many connections",
	[PGCHECK_LOST] = "connection lost",
	[PGCHECK_TLS] = "tls error",
	[PGCHECK_CONNECT_FAILED] = "connection failed",
	[PGCHECK_QUERY_FAILED] = "query failed",
	[PGCHECK_INTERNAL] = "internal error",
};

const char *
evapi_pgerr_reason_str(enum pgcheck_reason reason)
{
	if ((int)reason < 0 || reason >= PGCHECK_NREASONS)
		return reason_str[PGCHECK_INTERNAL];
	return reason_str[reason];
}

/* Copy MSG to OUT as one trimmed line with every occurrence of the
 * password replaced, then truncated (scrubbing before truncating, so a
 * cut can never leave a prefix of the password). */
void
evapi_pgerr_clean(const char *pw, char *out, size_t outlen, const char *msg)
{
	/* libpq never prints the password; this is a second line of defence.
	 * Scrubbing a one- to three-character password would only mangle
	 * every word containing it. */
	size_t pwlen = pw && strlen(pw) >= 4 ? strlen(pw) : 0;
	size_t o = 0;
	int space = 0;

	if (outlen == 0)
		return;
	for (const char *s = msg ? msg : ""; *s && o + 1 < outlen;) {
		unsigned char c = (unsigned char)*s;

		if (pwlen && strncmp(s, pw, pwlen) == 0) {
			if (space && o + 1 < outlen)
				out[o++] = ' ';
			space = 0;
			for (const char *r = "***"; *r && o + 1 < outlen; r++)
				out[o++] = *r;
			s += pwlen;
			continue;
		}
		s++;
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
			space = (o > 0);
			continue;
		}
		if (c < 0x20 || c == 0x7f)
			c = '?';
		if (space) {
			out[o++] = ' ';
			space = 0;
			if (o + 1 >= outlen)
				break;
		}
		out[o++] = (char)c;
	}
	out[o] = '\0';
}

static int
has_errno_text(const char *msg, int err)
{
	/* libpq formats socket errors with strerror in this process's locale,
	 * so comparing with our own strerror works in any language. */
	const char *text = strerror(err);

	return text && *text && strstr(msg, text) != NULL;
}

/* Map a libpq or server message to a reason. Server-side reasons come
 * first: with several hosts libpq concatenates one message per attempt,
 * and "password authentication failed" matters more than the refused
 * IPv6 attempt before it. */
enum pgcheck_reason
evapi_pgerr_classify(const char *msg, int connecting)
{
	static const struct {
		const char *needle;
		enum pgcheck_reason reason;
	} table[] = {
		{"password authentication failed", PGCHECK_AUTH},
		{"authentication failed", PGCHECK_AUTH},
		{"no password supplied", PGCHECK_AUTH},
		{"pg_hba.conf", PGCHECK_AUTH},
		{"SCRAM", PGCHECK_AUTH},
		{"does not exist", PGCHECK_NO_DATABASE},
		{"shutting down", PGCHECK_SHUTTING_DOWN},
		{"administrator command", PGCHECK_SHUTTING_DOWN},
		{"starting up", PGCHECK_STARTING_UP},
		{"in recovery mode", PGCHECK_STARTING_UP},
		{"not yet accepting connections", PGCHECK_STARTING_UP},
		{"too many connections", PGCHECK_TOO_MANY},
		{"remaining connection slots", PGCHECK_TOO_MANY},
		{"server closed the connection", PGCHECK_LOST},
		{"connection to server was lost", PGCHECK_LOST},
		{"no connection to the server", PGCHECK_LOST},
		{"could not receive data", PGCHECK_LOST},
		{"could not send data", PGCHECK_LOST},
		{"EOF detected", PGCHECK_LOST},
		{"SSL", PGCHECK_TLS},
		{"certificate", PGCHECK_TLS},
		{"Connection refused", PGCHECK_REFUSED},
		{"No such file or directory", PGCHECK_REFUSED},
		{"Network is unreachable", PGCHECK_UNREACHABLE},
		{"No route to host", PGCHECK_UNREACHABLE},
		{"could not translate host name", PGCHECK_HOST_NOT_FOUND},
		{"timeout expired", PGCHECK_TIMEOUT},
	};
	static const struct {
		int err;
		enum pgcheck_reason reason;
	} errs[] = {
		{ECONNREFUSED, PGCHECK_REFUSED},
		{ENOENT, PGCHECK_REFUSED},
		{ENETUNREACH, PGCHECK_UNREACHABLE},
		{EHOSTUNREACH, PGCHECK_UNREACHABLE},
		{ECONNRESET, PGCHECK_LOST},
		{EPIPE, PGCHECK_LOST},
		{ETIMEDOUT, PGCHECK_TIMEOUT},
	};
	size_t i;

	if (!msg)
		msg = "";
	/* "role ... does not exist" is an authentication problem (only seen
	 * with trust auth); "database ... does not exist" is not. */
	if (strstr(msg, "role \"") && strstr(msg, "does not exist"))
		return PGCHECK_AUTH;
	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (strcasestr(msg, table[i].needle))
			return table[i].reason;
	for (i = 0; i < sizeof(errs) / sizeof(errs[0]); i++)
		if (has_errno_text(msg, errs[i].err))
			return errs[i].reason;
	return connecting ? PGCHECK_CONNECT_FAILED : PGCHECK_QUERY_FAILED;
}

/* An error result: the SQLSTATE is exact; the message is the fallback. */
enum pgcheck_reason
evapi_pgerr_classify_result(const PGresult *res)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	if (state && strlen(state) == 5) {
		if (!strcmp(state, "57P01"))
			return PGCHECK_SHUTTING_DOWN;
		if (!strcmp(state, "57P02"))
			return PGCHECK_LOST;
		if (!strcmp(state, "57P03"))
			return PGCHECK_STARTING_UP;
		if (!strcmp(state, "53300"))
			return PGCHECK_TOO_MANY;
		if (!strcmp(state, "3D000"))
			return PGCHECK_NO_DATABASE;
		if (!strncmp(state, "08", 2))
			return PGCHECK_LOST;
		if (!strncmp(state, "28", 2))
			return PGCHECK_AUTH;
	}
	return evapi_pgerr_classify(PQresultErrorMessage(res), 0);
}
