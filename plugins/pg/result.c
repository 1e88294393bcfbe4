/*
 * result.c - what a query's callback reads (evapi/pg.h): the outcome, the
 * rows as text, and PostgreSQL's types as JSON.
 *
 * Values come in PostgreSQL's text format. The connections run with
 * TimeZone=UTC and DateStyle=ISO (pg.c), so a timestamptz reads
 * "2026-12-06 10:30:00.123456+00" and becomes RFC 3339's
 * "2026-12-06T10:30:00.123456Z".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "pool.h"

/* Type OIDs (PostgreSQL's pg_type.dat; fixed since 7.x). */
enum {
	OID_BOOL = 16,
	OID_INT8 = 20,
	OID_INT2 = 21,
	OID_INT4 = 23,
	OID_OID = 26,
	OID_JSON = 114,
	OID_FLOAT4 = 700,
	OID_FLOAT8 = 701,
	OID_DATE = 1082,
	OID_TIME = 1083,
	OID_TIMESTAMP = 1114,
	OID_TIMESTAMPTZ = 1184,
	OID_NUMERIC = 1700,
	OID_JSONB = 3802
};

/* Array type -> element type. */
static const struct {
	Oid array, elem;
} arrays[] = {
	{1000, OID_BOOL},
	{1005, OID_INT2},
	{1007, OID_INT4},
	{1016, OID_INT8},
	{1028, OID_OID},
	{1021, OID_FLOAT4},
	{1022, OID_FLOAT8},
	{1231, OID_NUMERIC},
	{199, OID_JSON},
	{3807, OID_JSONB},
	{1182, OID_DATE},
	{1183, OID_TIME},
	{1115, OID_TIMESTAMP},
	{1185, OID_TIMESTAMPTZ},
	{1009, 25},
	{1015, 1043},
	{1014, 1042},
	{1003, 19},
	{2951, 2950},
};

void
evapi_pg_result_set(struct evapi_pg_result *r, const struct pg *pg, int status,
		    enum pgcheck_reason reason, const PGresult *res,
		    unsigned retry_after)
{
	memset(r, 0, sizeof(*r));
	r->pg = pg;
	r->status = status;
	r->reason = status == EVAPI_PG_OK ? PGCHECK_OK : reason;
	r->res = status == EVAPI_PG_OK || status == EVAPI_PG_ERROR ? res : NULL;
	r->retry_after = retry_after;
	r->sqlstate = "";
	r->message = "";
	if (status == EVAPI_PG_ERROR && res != NULL) {
		const char *code = PQresultErrorField(res, PG_DIAG_SQLSTATE);

		snprintf(r->code, sizeof(r->code), "%s", code ? code : "");
		evapi_pgerr_clean(pg->conf.password, r->msgbuf,
				  sizeof(r->msgbuf), PQresultErrorMessage(res));
		r->sqlstate = r->code;
		r->message = r->msgbuf;
	} else if (status != EVAPI_PG_OK) {
		r->message = evapi_pgerr_reason_str(r->reason);
	}
}

/* ---- accessors
 * ---------------------------------------------------------------- */

static int
r_status(const evapi_pg_result *r)
{
	return r ? r->status : EVAPI_PG_ERROR;
}

static const char *
r_reason(const evapi_pg_result *r)
{
	if (r == NULL)
		return evapi_pgerr_reason_str(PGCHECK_INTERNAL);
	if (r->status == EVAPI_PG_BUSY)
		return "busy";
	return evapi_pgerr_reason_str(r->reason);
}

static const char *
r_sqlstate(const evapi_pg_result *r)
{
	return r ? r->sqlstate : "";
}

static const char *
r_message(const evapi_pg_result *r)
{
	return r ? r->message : "";
}

static int
r_nrows(const evapi_pg_result *r)
{
	return r && r->res && r->status == EVAPI_PG_OK ? PQntuples(r->res) : 0;
}

static int
r_ncols(const evapi_pg_result *r)
{
	return r && r->res && r->status == EVAPI_PG_OK ? PQnfields(r->res) : 0;
}

static int
in_range(const evapi_pg_result *r, int row, int col)
{
	return row >= 0 && col >= 0 && row < r_nrows(r) && col < r_ncols(r);
}

static const char *
r_column(const evapi_pg_result *r, int col)
{
	if (col < 0 || col >= r_ncols(r))
		return NULL;
	return PQfname(r->res, col);
}

static int
r_isnull(const evapi_pg_result *r, int row, int col)
{
	return !in_range(r, row, col) || PQgetisnull(r->res, row, col);
}

static const char *
r_text(const evapi_pg_result *r, int row, int col)
{
	if (!in_range(r, row, col))
		return NULL;
	return PQgetvalue(r->res, row, col);
}

static int
parse_int64(const char *s, long long *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0')
		return EVAPI_ERR;
	*out = v;
	return EVAPI_OK;
}

static int
r_int64(const evapi_pg_result *r, int row, int col, long long *out)
{
	if (r_isnull(r, row, col) || out == NULL)
		return EVAPI_ERR;
	return parse_int64(PQgetvalue(r->res, row, col), out);
}

static long long
r_affected(const evapi_pg_result *r)
{
	const char *n;

	if (r == NULL || r->res == NULL || r->status != EVAPI_PG_OK)
		return -1;
	n = PQcmdTuples((PGresult *)r->res);
	return n && *n ? atoll(n) : -1;
}

static unsigned
r_retry_after(const evapi_pg_result *r)
{
	return r && r->status != EVAPI_PG_OK && r->retry_after ? r->retry_after
							       : 1;
}

/* ---- values as JSON
 * ------------------------------------------------------------ */

/* "YYYY-MM-DD HH:MM:SS[.ffffff]+HH[:MM[:SS]]" as RFC 3339: a T, and Z for
 * UTC. Anything else (infinity, BC years) stays as it is. */
static struct json_object *
timestamp_json(const char *s, int tz)
{
	char out[64];
	size_t n = strlen(s), i = 0, o = 0;

	if (n < 19 || n >= sizeof(out) - 8 || s[10] != ' ' ||
	    strstr(s, "BC") != NULL)
		return json_object_new_string(s);
	memcpy(out, s, 10);
	out[10] = 'T';
	o = 11;
	/* Time and fraction. */
	for (i = 11; i < n && s[i] != '+' && s[i] != '-'; i++)
		out[o++] = s[i];
	if (!tz) {
		out[o] = '\0';
		return json_object_new_string_len(out, (int)o);
	}
	if (i >= n)
		return json_object_new_string(s);
	if (strcmp(s + i, "+00") == 0) {
		out[o++] = 'Z';
	} else {
		/* +HH, +HH:MM: RFC 3339 wants +HH:MM (seconds dropped). */
		out[o++] = s[i];
		out[o++] = s[i + 1];
		out[o++] = s[i + 2];
		out[o++] = ':';
		if (n >= i + 6 && s[i + 3] == ':') {
			out[o++] = s[i + 4];
			out[o++] = s[i + 5];
		} else {
			out[o++] = '0';
			out[o++] = '0';
		}
	}
	out[o] = '\0';
	return json_object_new_string_len(out, (int)o);
}

static struct json_object *
scalar_json(Oid type, const char *s, size_t len)
{
	long long v;

	switch (type) {
	case OID_BOOL:
		return json_object_new_boolean(s[0] == 't');
	case OID_INT2:
	case OID_INT4:
	case OID_INT8:
	case OID_OID:
		if (parse_int64(s, &v) == EVAPI_OK)
			return json_object_new_int64(v);
		return json_object_new_string_len(s, (int)len);
	case OID_FLOAT4:
	case OID_FLOAT8:
		/* NaN and Infinity have no JSON number: their text. */
		if (strchr("0123456789-.", s[0]) != NULL &&
		    strcmp(s, "-Infinity") != 0)
			return json_object_new_double_s(strtod(s, NULL), s);
		return json_object_new_string_len(s, (int)len);
	case OID_JSON:
	case OID_JSONB:
		return json_tokener_parse(s);
	case OID_TIMESTAMPTZ:
		return timestamp_json(s, 1);
	case OID_TIMESTAMP:
		return timestamp_json(s, 0);
	default:
		return json_object_new_string_len(s, (int)len);
	}
}

static Oid
element_type(Oid type)
{
	size_t i;

	for (i = 0; i < sizeof(arrays) / sizeof(arrays[0]); i++)
		if (arrays[i].array == type)
			return arrays[i].elem;
	return 0;
}

/* One array literal ("{a,"b c",NULL,{1,2}}") from *P on, as JSON. */
static struct json_object *
array_json(const char **p, Oid elem, char *buf, size_t bufsize)
{
	struct json_object *arr = json_object_new_array();
	const char *s = *p;

	if (arr == NULL || *s != '{')
		goto bad;
	s++;
	while (*s && *s != '}') {
		struct json_object *v;
		size_t n = 0;
		int quoted = 0;

		if (*s == '{') {
			v = array_json(&s, elem, buf, bufsize);
		} else {
			if (*s == '"') {
				quoted = 1;
				for (s++; *s && *s != '"'; s++) {
					if (*s == '\\' && s[1])
						s++;
					if (n + 1 < bufsize)
						buf[n++] = *s;
				}
				if (*s == '"')
					s++;
			} else {
				for (; *s && *s != ',' && *s != '}'; s++)
					if (n + 1 < bufsize)
						buf[n++] = *s;
			}
			buf[n] = '\0';
			v = !quoted && strcmp(buf, "NULL") == 0
				    ? NULL
				    : scalar_json(elem, buf, n);
		}
		json_object_array_add(arr, v);
		if (*s == ',')
			s++;
	}
	if (*s == '}')
		s++;
	*p = s;
	return arr;
bad:
	json_object_put(arr);
	return NULL;
}

static struct json_object *
r_value_json(const evapi_pg_result *r, int row, int col)
{
	const char *s;
	Oid type, elem;

	if (r_isnull(r, row, col))
		return NULL;
	s = PQgetvalue(r->res, row, col);
	type = PQftype(r->res, col);
	elem = element_type(type);
	if (elem != 0 && s[0] == '{') {
		/* A value is never longer than the whole text. */
		size_t size = strlen(s) + 1;
		char *buf = malloc(size);
		struct json_object *v;

		if (buf == NULL)
			return NULL;
		v = array_json(&s, elem, buf, size);
		free(buf);
		return v;
	}
	return scalar_json(type, s, (size_t)PQgetlength(r->res, row, col));
}

static struct json_object *
r_row_json(const evapi_pg_result *r, int row)
{
	struct json_object *o;
	int col, ncols = r_ncols(r);

	if (row < 0 || row >= r_nrows(r))
		return NULL;
	o = json_object_new_object();
	for (col = 0; o != NULL && col < ncols; col++)
		json_object_object_add(o, PQfname(r->res, col),
				       r_value_json(r, row, col));
	return o;
}

/* ---- answering for the plugin
 * ----------------------------------------------------- */

static int
r_failed(evapi_request *req, const evapi_pg_result *r)
{
	char after[16];

	if (r != NULL && r->status == EVAPI_PG_OK)
		return 0;
	if (r != NULL && r->status == EVAPI_PG_ERROR) {
		evapi_log(r->pg->ctx, EVAPI_LOG_ERROR, "query failed",
			  "sqlstate", r->sqlstate, "detail", r->message, "path",
			  evapi_request_path(req), (const char *)0);
		evapi_respond_error(req, 500, "internal error");
		return 1;
	}
	snprintf(after, sizeof(after), "%u", r_retry_after(r));
	evapi_response_header(req, "Retry-After", after);
	evapi_respond_error(req, 503,
			    r != NULL && r->status == EVAPI_PG_BUSY
				    ? "database busy"
				    : "database unavailable");
	return 1;
}

static const char *const *
r_reasons(void)
{
	static const char *list[PGCHECK_NREASONS + 2];
	int i, n = 0;

	if (list[0] == NULL) {
		for (i = 0; i < PGCHECK_NREASONS; i++)
			list[n++] =
				evapi_pgerr_reason_str((enum pgcheck_reason)i);
		list[n] = "busy";
	}
	return list;
}

/* The table's other functions are in pg.c. */
const struct evapi_pg_api evapi_pg_result_table = {
	.status = r_status,
	.reason = r_reason,
	.sqlstate = r_sqlstate,
	.message = r_message,
	.nrows = r_nrows,
	.ncols = r_ncols,
	.column = r_column,
	.isnull = r_isnull,
	.text = r_text,
	.int64 = r_int64,
	.value_json = r_value_json,
	.row_json = r_row_json,
	.affected = r_affected,
	.failed = r_failed,
	.retry_after = r_retry_after,
	.reasons = r_reasons,
};
