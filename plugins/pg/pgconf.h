/*
 * pgconf.h - DATABASE_URL read once: libpq's own parse, evapi's rules on
 * top (no ambiguous URI, no connection string hidden in dbname), and the
 * keyword list every connection attempt starts from (pgconf.c).
 */
#ifndef EVAPI_PG_PGCONF_H
#define EVAPI_PG_PGCONF_H

#include <stddef.h>

#include <libpq-fe.h>

#define PGCONF_MAX_HOSTS 16 /* entries in a host list */

enum pgconf_host_type {
	PGCONF_HOST_DEFAULT,
	PGCONF_HOST_UNIX,
	PGCONF_HOST_NUMERIC,
	PGCONF_HOST_NAME
};

struct pgconf {
	PQconninfoOption *opts;
	/* Keyword/value arrays for PQconnectStartParams, with room for the
	 * host, hostaddr and port lists each attempt adds (KW/VAL point into
	 * OPTS or are constants). */
	const char **kw;
	const char **val;
	int nopt;
	const char *password; /* scrubbed from every message */
	int expand_hosts;     /* 0: host/hostaddr/port passed through */
	char *hostbuf, *portbuf;
	char *hosts[PGCONF_MAX_HOSTS];
	enum pgconf_host_type htype[PGCONF_MAX_HOSTS];
	int nhosts;
	char *ports[PGCONF_MAX_HOSTS];
	int nports;
	int need_dns;       /* a host is a name: resolve it without blocking */
	int defaulted_user; /* no user given and no passwd entry: "evapi" */
	char *optbuf;       /* the options sent: the user's and evapi's */
};

/* Parse CONNINFO (URI or key=value). EVAPI_ERR with a message in ERR that
 * never quotes the input (it may hold a password). APP_NAME is the
 * fallback_application_name; SESSION (or NULL) server settings
 * ("-c TimeZone=UTC") added after the user's own options. */
int evapi_pgconf_parse(struct pgconf *c, const char *conninfo,
		       const char *app_name, const char *session, char *err,
		       size_t errlen);
void evapi_pgconf_free(struct pgconf *c);
/* A parsed option, NULL when unset or empty. */
const char *evapi_pgconf_opt(const struct pgconf *c, const char *key);
/* "host=... port=... dbname=... user=..." from the parsed fields, for
 * logs: never the password, whatever its spelling. */
void evapi_pgconf_target(const struct pgconf *c, char *out, size_t outlen);

#endif
