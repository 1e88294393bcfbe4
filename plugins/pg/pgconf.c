/*
 * pgconf.c - DATABASE_URL, parsed once (pgconf.h).
 *
 * Everything passes through to libpq except the host, hostaddr and port
 * lists: a host name is resolved without blocking (libpq would call
 * getaddrinfo) and each attempt hands libpq the addresses as hostaddr,
 * keeping host for TLS verification and SNI.
 */
#include <arpa/inet.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <evapi/plugin.h>

#include "pgconf.h"
#include "redact.h"

#define PGC_DEFAULT_USER "evapi"
#define PGC_SYSTEM_CA_BUNDLE "/etc/ssl/certs/ca-certificates.crt"

/* Split a comma-separated libpq list in place (libpq's own rule: no
 * quoting, surrounding blanks are not trimmed). -1 when too long. */
static int
split_list(char *s, char **out, int max)
{
	int n = 0;

	for (;;) {
		char *comma = strchr(s, ',');

		if (n == max)
			return -1;
		out[n++] = s;
		if (!comma)
			return n;
		*comma = '\0';
		s = comma + 1;
	}
}

static enum pgconf_host_type
host_type(const char *h)
{
	unsigned char buf[sizeof(struct in6_addr)];

	if (!*h)
		return PGCONF_HOST_DEFAULT;
	if (h[0] == '/' || h[0] == '@') /* libpq: a socket directory */
		return PGCONF_HOST_UNIX;
	if (inet_pton(AF_INET, h, buf) == 1 || inet_pton(AF_INET6, h, buf) == 1)
		return PGCONF_HOST_NUMERIC;
	return PGCONF_HOST_NAME;
}

/* No user in DATABASE_URL nor PGUSER: libpq takes the name of the Unix
 * user, and fails every check when the uid has no passwd entry (a scratch
 * image run with --user 12345). Then evapi uses "evapi", the user its
 * images define, so the behaviour does not depend on /etc/passwd. */
static int
pgc_default_user(struct pgconf *pc, int n)
{
	if (evapi_pgconf_opt(pc, "user") || getenv("PGUSER") ||
	    getpwuid(geteuid()) != NULL)
		return n;
	pc->kw[n] = "user";
	pc->val[n++] = PGC_DEFAULT_USER;
	pc->defaulted_user = 1;
	return n;
}

/* sslmode=verify-ca/verify-full without sslrootcert: libpq 15 wants
 * ~/.postgresql/root.crt, which no container has. Use the CA bundle the
 * system (or SSL_CERT_FILE) provides, unless that root.crt exists. */
static int
pgc_default_rootcert(struct pgconf *pc, int n)
{
	const char *mode = evapi_pgconf_opt(pc, "sslmode"),
		   *home = getenv("HOME");
	const char *bundle = getenv("SSL_CERT_FILE");
	char own[1024];

	if (!mode)
		mode = getenv("PGSSLMODE");
	if (!mode || strncmp(mode, "verify-", 7) != 0 ||
	    evapi_pgconf_opt(pc, "sslrootcert") || getenv("PGSSLROOTCERT"))
		return n;
	if (home &&
	    snprintf(own, sizeof(own), "%s/.postgresql/root.crt", home) <
		    (int)sizeof(own) &&
	    access(own, R_OK) == 0)
		return n;
	if (!bundle || !*bundle)
		bundle = PGC_SYSTEM_CA_BUNDLE;
	pc->kw[n] = "sslrootcert";
	pc->val[n++] = bundle;
	return n;
}

/* Read the parsed options: everything passes through to libpq except the
 * host, hostaddr and port lists, which are rebuilt per attempt. */
/* The user's options (if any), then SESSION's. */
static int
pgc_options(struct pgconf *pc, const char *user, const char *session, int n)
{
	size_t len;

	if (session == NULL || *session == '\0') {
		if (user != NULL) {
			pc->kw[n] = "options";
			pc->val[n++] = user;
		}
		return n;
	}
	len = (user ? strlen(user) + 1 : 0) + strlen(session) + 1;
	pc->optbuf = malloc(len);
	if (pc->optbuf == NULL)
		return -1;
	snprintf(pc->optbuf, len, "%s%s%s", user ? user : "", user ? " " : "",
		 session);
	pc->kw[n] = "options";
	pc->val[n++] = pc->optbuf;
	return n;
}

static int
pgc_configure(struct pgconf *pc, const char *app_name, const char *session,
	      char *err, size_t errlen)
{
	const char *host = NULL, *hostaddr = NULL, *port = NULL;
	const char *options = NULL;
	int have_gss = 0, n = 0, count = 0;
	PQconninfoOption *o;

	for (o = pc->opts; o->keyword; o++)
		count++;
	/* + host, hostaddr, port, fallback_application_name, gssencmode,
	 * user, sslrootcert, options and the terminating NULL. */
	pc->kw = calloc((size_t)count + 10, sizeof(*pc->kw));
	pc->val = calloc((size_t)count + 10, sizeof(*pc->val));
	if (!pc->kw || !pc->val) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (o = pc->opts; o->keyword; o++) {
		if (!o->val || !*o->val)
			continue;
		if (!strcmp(o->keyword, "host")) {
			host = o->val;
			continue;
		}
		if (!strcmp(o->keyword, "options")) {
			options = o->val;
			continue;
		}
		if (!strcmp(o->keyword, "hostaddr"))
			hostaddr = o->val;
		else if (!strcmp(o->keyword, "port"))
			port = o->val;
		else if (!strcmp(o->keyword, "password"))
			pc->password = o->val;
		else if (!strcmp(o->keyword, "gssencmode"))
			have_gss = 1;
		if (!strcmp(o->keyword, "hostaddr") ||
		    !strcmp(o->keyword, "port"))
			continue;
		pc->kw[n] = o->keyword;
		pc->val[n++] = o->val;
	}
	/* libpq would fill these from the environment; do it here so that
	 * a PGHOST name is resolved by evdns too. */
	if (!host)
		host = getenv("PGHOST");
	if (!port)
		port = getenv("PGPORT");
	if (!hostaddr && getenv("PGHOSTADDR") && *getenv("PGHOSTADDR"))
		hostaddr = getenv("PGHOSTADDR");
	if (hostaddr || !host || !*host) {
		/* Addresses given, or the default unix socket: nothing to
		 * resolve, libpq gets the options as they are. */
		pc->expand_hosts = 0;
		if (host && *host) {
			pc->kw[n] = "host";
			pc->val[n++] = host;
		}
		if (hostaddr) {
			pc->kw[n] = "hostaddr";
			pc->val[n++] = hostaddr;
		}
		if (port && *port) {
			pc->kw[n] = "port";
			pc->val[n++] = port;
		}
	} else {
		pc->expand_hosts = 1;
		pc->hostbuf = strdup(host);
		pc->portbuf = strdup(port && *port ? port : "");
		if (!pc->hostbuf || !pc->portbuf) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		pc->nhosts =
			split_list(pc->hostbuf, pc->hosts, PGCONF_MAX_HOSTS);
		if (pc->nhosts < 0) {
			snprintf(err, errlen, "more than %d hosts",
				 PGCONF_MAX_HOSTS);
			return -1;
		}
		pc->nports = *pc->portbuf ? split_list(pc->portbuf, pc->ports,
						       PGCONF_MAX_HOSTS)
					  : 0;
		if (pc->nports < 0 ||
		    (pc->nports > 1 && pc->nports != pc->nhosts)) {
			snprintf(err, errlen,
				 "the port list must have one port or one per "
				 "host (%d hosts)",
				 pc->nhosts);
			return -1;
		}
		for (int i = 0; i < pc->nhosts; i++) {
			pc->htype[i] = host_type(pc->hosts[i]);
			if (pc->htype[i] == PGCONF_HOST_NAME)
				pc->need_dns = 1;
		}
	}
	pc->kw[n] = "fallback_application_name";
	pc->val[n++] = app_name;
	/* GSSAPI encryption ("prefer" by default) asks the Kerberos library
	 * for credentials synchronously, which may contact a KDC. Only when
	 * the operator asked for it. */
	if (!have_gss && !getenv("PGGSSENCMODE")) {
		pc->kw[n] = "gssencmode";
		pc->val[n++] = "disable";
	}
	n = pgc_default_user(pc, n);
	n = pgc_default_rootcert(pc, n);
	n = pgc_options(pc, options, session, n);
	if (n < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	pc->nopt = n;
	return 0;
}

/* libpq ends a URI's user[:password] at the first '@' before the first
 * '/'. An unencoded '@' or '/' in the password moves the rest of it into
 * the host, port or database name, which are logged (and the host sent
 * to DNS). Refuse such a URI: a second '@' before the first '/', or no
 * '@' there but one after it, before the query. */
static int
pgc_uri_ambiguous(const char *s, size_t prefix)
{
	const char *auth = s + prefix;
	size_t n = strcspn(auth, "/");
	const char *at = memchr(auth, '@', n), *rest;

	if (at != NULL)
		return memchr(at + 1, '@', n - (size_t)(at + 1 - auth)) != NULL;
	rest = auth + n;
	return memchr(rest, '@', strcspn(rest, "?")) != NULL;
}

/* A dbname that holds a URI or key=value pairs (libpq's expand_dbname
 * form). */
static int
pgc_dbname_is_conninfo(const struct pgconf *pc)
{
	const PQconninfoOption *o;

	for (o = pc->opts; o->keyword; o++)
		if (!strcmp(o->keyword, "dbname") && o->val)
			return evapi_pg_uri_prefix(o->val) > 0 ||
			       strchr(o->val, '=') != NULL;
	return 0;
}

/* ---- what libpq would only find when connecting ---------------------- */

/* A parsed option as given, "" included (NULL: not given). */
static const char *
pgc_raw_opt(const struct pgconf *pc, const char *key)
{
	for (const PQconninfoOption *o = pc->opts; o->keyword; o++)
		if (!strcmp(o->keyword, key))
			return o->val;
	return NULL;
}

/* Every entry of a port list is empty (libpq's default) or a number from
 * 1 to 65535. */
static int
pgc_ports_ok(const char *ports)
{
	while (ports != NULL && *ports != '\0') {
		size_t n = strcspn(ports, ","), i;
		unsigned long v = 0;

		for (i = 0; i < n; i++) {
			if (ports[i] < '0' || ports[i] > '9' || i >= 5)
				return 0;
			v = v * 10 + (unsigned long)(ports[i] - '0');
		}
		if (n > 0 && (v < 1 || v > 65535))
			return 0;
		ports += n;
		if (*ports == ',')
			ports++;
	}
	return 1;
}

/* A URI whose authority names a user or a port but no host
 * ("postgresql://app:pw@:5432/db", a host variable left empty): libpq
 * would try its default Unix socket. The socket forms stay valid:
 * "postgresql:///db" and "?host=/run/postgresql". */
static int
pgc_uri_host_missing(const struct pgconf *pc, const char *s, size_t prefix)
{
	const char *auth = s + prefix, *host;
	size_t n = strcspn(auth, "/?");
	const char *at = NULL, *p;

	if (prefix == 0 || n == 0 || pgc_raw_opt(pc, "host") != NULL ||
	    pgc_raw_opt(pc, "hostaddr") != NULL ||
	    (getenv("PGHOST") && *getenv("PGHOST")) ||
	    (getenv("PGHOSTADDR") && *getenv("PGHOSTADDR")))
		return 0;
	for (p = auth; p < auth + n; p++)
		if (*p == '@')
			at = p;
	host = at != NULL ? at + 1 : auth;
	return host == auth + n || *host == ':';
}

/* The host given and empty ("host=''", "?host="), or an empty entry in a
 * list of several ("a,,b"). */
static int
pgc_host_empty(const struct pgconf *pc)
{
	const char *h = pgc_raw_opt(pc, "host");
	size_t len;

	if (h == NULL)
		return 0;
	len = strlen(h);
	return len == 0 ||
	       (strchr(h, ',') != NULL &&
		(h[0] == ',' || h[len - 1] == ',' || strstr(h, ",,") != NULL));
}

/* The checks libpq leaves to the first connection, so that
 * evapi --check-config finds them. */
static int
pgc_check_target(const struct pgconf *pc, const char *conninfo, size_t prefix,
		 char *err, size_t errlen)
{
	const char *port = pgc_raw_opt(pc, "port"), *from = "its port";

	if (port == NULL) {
		port = getenv("PGPORT");
		from = "the port in PGPORT";
	}
	if (!pgc_ports_ok(port)) {
		snprintf(err, errlen, "%s must be a number from 1 to 65535",
			 from);
		return EVAPI_ERR;
	}
	if (pgc_host_empty(pc) || pgc_uri_host_missing(pc, conninfo, prefix)) {
		snprintf(err, errlen,
			 "its host is empty; for a Unix socket, "
			 "name the directory: ?host=/run/postgresql");
		return EVAPI_ERR;
	}
	return EVAPI_OK;
}

const char *
evapi_pgconf_opt(const struct pgconf *pc, const char *key)
{
	for (const PQconninfoOption *o = pc->opts; o->keyword; o++)
		if (!strcmp(o->keyword, key) && o->val && *o->val)
			return o->val;
	return NULL;
}

void
evapi_pgconf_target(const struct pgconf *pc, char *out, size_t outlen)
{
	static const char *const keys[] = {"host",   "hostaddr", "port",
					   "dbname", "user",	 "sslmode"};
	size_t len = 0;

	out[0] = '\0';
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *v = evapi_pgconf_opt(pc, keys[i]);
		int n;

		if (!v)
			continue;
		n = snprintf(out + len, outlen - len, "%s%s=%s", len ? " " : "",
			     keys[i], v);
		if (n < 0 || (size_t)n >= outlen - len)
			break;
		len += (size_t)n;
	}
	if (len == 0)
		snprintf(out, outlen, "libpq defaults");
}

int
evapi_pgconf_parse(struct pgconf *pc, const char *conninfo,
		   const char *app_name, const char *session, char *err,
		   size_t errlen)
{
	char *perr = NULL;
	size_t prefix;

	memset(pc, 0, sizeof(*pc));
	prefix = evapi_pg_uri_prefix(conninfo);
	if (prefix > 0 && pgc_uri_ambiguous(conninfo, prefix)) {
		snprintf(err, errlen,
			 "an unencoded '@' or '/' in the user name or password "
			 "would be taken as part of the host or database: "
			 "percent-encode '@' as %%40 and '/' as %%2F");
		return EVAPI_ERR;
	}
	pc->opts = PQconninfoParse(conninfo, &perr);
	if (!pc->opts) {
		/* libpq's message may quote the offending part of the
		 * string, which can be the password: say only what kind of
		 * problem it is, from the form the user chose. */
		if (prefix == 0)
			snprintf(err, errlen,
				 "not a valid key=value connection string");
		else if (strncmp(conninfo, "postgres", 8) != 0)
			snprintf(err, errlen,
				 "not a valid postgresql:// URI "
				 "(the scheme must be lower case)");
		else
			snprintf(err, errlen, "not a valid postgresql:// URI");
		PQfreemem(perr);
		return EVAPI_ERR;
	}
	if (pgc_dbname_is_conninfo(pc)) {
		/* psql would expand it; evapi passes dbname as a name, so the
		 * server would echo it, password and all, in its error. */
		snprintf(err, errlen,
			 "dbname is itself a connection string, which evapi "
			 "does not expand: put its parts in DATABASE_URL");
		return EVAPI_ERR;
	}
	if (pgc_check_target(pc, conninfo, prefix, err, errlen) != EVAPI_OK)
		return EVAPI_ERR;
	return pgc_configure(pc, app_name, session, err, errlen) < 0 ? EVAPI_ERR
								     : EVAPI_OK;
}

void
evapi_pgconf_free(struct pgconf *pc)
{
	free(pc->kw);
	free(pc->val);
	free(pc->hostbuf);
	free(pc->portbuf);
	free(pc->optbuf);
	if (pc->opts)
		PQconninfoFree(pc->opts);
	memset(pc, 0, sizeof(*pc));
}
