/*
 * pgcheck.c - a non-blocking PostgreSQL liveness check on one event loop.
 *
 * State machine (one check at a time; pc->conn may outlive a check):
 *
 *   IDLE --run--> QUERYING            (an established connection exists)
 *   IDLE --run--> RESOLVING           (a host name needs evdns)
 *   IDLE --run--> CONNECTING          (only addresses or unix sockets)
 *   IDLE --run--> IDLE, done(last failure)   (backing off: answer at once)
 *   RESOLVING --all lookups answered--> CONNECTING
 *   CONNECTING --PQconnectPoll OK--> QUERYING
 *   QUERYING --"SELECT 1" answered--> IDLE, done(OK), watch the idle socket
 *   QUERYING --failed on a reused connection--> RESOLVING/CONNECTING
 *                                     (once, within the same deadline)
 *   any --failure or deadline--> IDLE, done(reason), connection closed
 *
 * The deadline timer (timeout_ms) is armed when a check starts and covers
 * resolution, connection setup and the query. Connection attempts that
 * fail back off exponentially (PGC_BACKOFF_*); while backing off a check
 * answers immediately with the last failure. A failure of an existing
 * connection does not back off: the next attempt is immediate.
 *
 * Blocking calls avoided on purpose: PQconnectdb, PQexec, PQping, PQcancel
 * (it connects synchronously), getaddrinfo on a host name (libpq calls it
 * when only host is given: we resolve with evdns and pass hostaddr),
 * GSSAPI credential lookups (gssencmode=disable unless configured), and
 * a blocking flush in PQfinish (the connection is switched to
 * non-blocking mode once established).
 */
#define _GNU_SOURCE /* strcasestr */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <pwd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <libpq-fe.h>

#include "pgcheck.h"

#define PGC_MAX_HOSTS 16 /* entries in a host list */
#define PGC_MAX_ADDRS 4	 /* addresses tried per host name */
#define PGC_BACKOFF_MIN_MS 250
#define PGC_BACKOFF_MAX_MS 2000
#define PGC_QUERY "SELECT 1"
#define PGC_APP_NAME "evapi-ready"
#define PGC_DEFAULT_USER "evapi"
#define PGC_SYSTEM_CA_BUNDLE "/etc/ssl/certs/ca-certificates.crt"
#define PGC_DETAIL_LEN 256

enum pgc_state { PGC_IDLE, PGC_RESOLVING, PGC_CONNECTING, PGC_QUERYING };

enum pgc_host_type {
	PGC_HOST_DEFAULT,
	PGC_HOST_UNIX,
	PGC_HOST_NUMERIC,
	PGC_HOST_NAME
};

struct pgc_resolve;

/* One evdns lookup for one host name of the list. */
struct pgc_lookup {
	struct pgc_resolve *rs;
	int host; /* index into pc->hosts */
	int done;
	int err;
	struct evutil_addrinfo *ai;
	struct evdns_getaddrinfo_request *req;
};

/* The lookups of one connection attempt. Freed by whoever drops PENDING
 * to zero; PC is NULL once the attempt was cancelled (the evdns callbacks
 * still arrive later, with EVUTIL_EAI_CANCEL). */
struct pgc_resolve {
	struct pgcheck *pc;
	int pending;
	int n;
	struct pgc_lookup lk[PGC_MAX_HOSTS];
};

/* A growable comma-separated list. */
struct pgc_list {
	char *s;
	size_t len, cap;
	int n;
	int failed;
};

struct pgcheck {
	int defaulted_user; /* no user given and no passwd entry: "evapi" */
	struct event_base *base;
	struct evdns_base *dns; /* only when a host name must be resolved */
	struct pgcheck_hooks hooks;
	void *arg;
	unsigned timeout_ms;

	/* Configuration, parsed once. KW/VAL point into OPTS. */
	PQconninfoOption *opts;
	const char **kw;
	const char **val;
	int nopt;
	const char *password; /* scrubbed from every detail */
	int expand_hosts;     /* 0: host/hostaddr/port passed through */
	char *hostbuf, *portbuf;
	char *hosts[PGC_MAX_HOSTS];
	enum pgc_host_type htype[PGC_MAX_HOSTS];
	int nhosts;
	char *ports[PGC_MAX_HOSTS];
	int nports;
	int need_dns;

	/* State. */
	enum pgc_state state;
	PGconn *conn;	  /* when IDLE: an established, idle connection */
	int attempt;	  /* this check is opening a new connection */
	int reused;	  /* this check started on an existing connection */
	struct event *io; /* the one pending socket event, if any */
	struct event *deadline;
	struct pgc_resolve *rs;
	unsigned attempt_failures;
	uint64_t next_attempt_ms;
	enum pgcheck_reason last_reason;
	enum pgcheck_reason query_reason; /* first error result of the query */
	char query_msg[PGC_DETAIL_LEN];
	char notice[PGC_DETAIL_LEN]; /* last server notice, scrubbed */
	char detail[PGC_DETAIL_LEN];
};

static void pgc_start_connect(struct pgcheck *pc);
static void pgc_send_query(struct pgcheck *pc);

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
evapi_pgcheck_reason_str(enum pgcheck_reason reason)
{
	if ((int)reason < 0 || reason >= PGCHECK_NREASONS)
		return reason_str[PGCHECK_INTERNAL];
	return reason_str[reason];
}

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void
pgc_log(struct pgcheck *pc, int level, const char *msg, const char *key,
	const char *value)
{
	if (pc->hooks.log)
		pc->hooks.log(pc->arg, level, msg, key, value);
}

/* --- messages: one line, password scrubbed, classified -------------------- */

/* Copy MSG to OUT as one trimmed line with every occurrence of the
 * password replaced, then truncated (scrubbing before truncating, so a
 * cut can never leave a prefix of the password). */
static void
pgc_clean(const struct pgcheck *pc, char *out, size_t outlen, const char *msg)
{
	const char *pw = pc->password;
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
static enum pgcheck_reason
pgc_classify(const char *msg, int connecting)
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
static enum pgcheck_reason
pgc_classify_result(const PGresult *res)
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
	return pgc_classify(PQresultErrorMessage(res), 0);
}

static void
pgc_notice(void *arg, const char *message)
{
	struct pgcheck *pc = arg;

	/* Never let libpq print to stderr; keep the text for the next log. */
	pgc_clean(pc, pc->notice, sizeof(pc->notice), message);
	pgc_log(pc, PGCHECK_LOG_DEBUG, "database notice", "detail", pc->notice);
}

/* --- lists ---------------------------------------------------------------- */

static void
list_add(struct pgc_list *l, const char *item)
{
	size_t n = strlen(item);

	if (l->failed)
		return;
	if (l->len + n + 2 > l->cap) {
		size_t cap = (l->len + n + 2) * 2;
		char *s = realloc(l->s, cap);

		if (!s) {
			l->failed = 1;
			return;
		}
		l->s = s;
		l->cap = cap;
	}
	if (l->n++ > 0)
		l->s[l->len++] = ',';
	memcpy(l->s + l->len, item, n);
	l->len += n;
	l->s[l->len] = '\0';
}

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

static enum pgc_host_type
host_type(const char *h)
{
	unsigned char buf[sizeof(struct in6_addr)];

	if (!*h)
		return PGC_HOST_DEFAULT;
	if (h[0] == '/' || h[0] == '@') /* libpq: a socket directory */
		return PGC_HOST_UNIX;
	if (evutil_inet_pton(AF_INET, h, buf) == 1 ||
	    evutil_inet_pton(AF_INET6, h, buf) == 1)
		return PGC_HOST_NUMERIC;
	return PGC_HOST_NAME;
}

/* --- connection and io ---------------------------------------------------- */

static void
pgc_io_free(struct pgcheck *pc)
{
	if (pc->io) {
		event_free(pc->io);
		pc->io = NULL;
	}
}

/* Wait once for WHAT on the connection's current socket (libpq may switch
 * sockets while it tries hosts and addresses, so never cache it). */
static int
pgc_arm(struct pgcheck *pc, short what, event_callback_fn cb)
{
	evutil_socket_t fd = PQsocket(pc->conn);

	pgc_io_free(pc);
	if (fd < 0)
		return -1;
	pc->io = event_new(pc->base, fd, what, cb, pc);
	if (!pc->io)
		return -1;
	if (event_add(pc->io, NULL) < 0) {
		pgc_io_free(pc);
		return -1;
	}
	return 0;
}

static void
pgc_drop_conn(struct pgcheck *pc)
{
	pgc_io_free(pc);
	if (pc->conn) {
		PQfinish(pc->conn);
		pc->conn = NULL;
	}
}

static void
resolve_free(struct pgc_resolve *rs)
{
	for (int i = 0; i < rs->n; i++)
		if (rs->lk[i].ai)
			evutil_freeaddrinfo(rs->lk[i].ai);
	free(rs);
}

static void
pgc_cancel_resolve(struct pgcheck *pc)
{
	struct pgc_resolve *rs = pc->rs;

	if (!rs)
		return;
	pc->rs = NULL;
	rs->pc = NULL;
	/* Hold a reference: a cancelled lookup may call back right away. */
	rs->pending++;
	for (int i = 0; i < rs->n; i++)
		if (!rs->lk[i].done && rs->lk[i].req)
			evdns_getaddrinfo_cancel(rs->lk[i].req);
	if (--rs->pending == 0)
		resolve_free(rs);
}

static unsigned
backoff_ms(unsigned failures)
{
	unsigned ms = PGC_BACKOFF_MIN_MS;
	ev_uint32_t rnd = 0;

	while (--failures > 0 && ms < PGC_BACKOFF_MAX_MS)
		ms *= 2;
	if (ms > PGC_BACKOFF_MAX_MS)
		ms = PGC_BACKOFF_MAX_MS;
	/* +-20% jitter so that replicas do not reconnect in lockstep after a
	 * database restart. */
	evutil_secure_rng_get_bytes(&rnd, sizeof(rnd));
	return ms - ms / 5 + rnd % (2 * (ms / 5) + 1);
}

static void pgc_watch_idle(struct pgcheck *pc);

/* End the running check with REASON; MSG is the raw detail (may be NULL). */
static void
pgc_finish(struct pgcheck *pc, enum pgcheck_reason reason, const char *msg)
{
	evtimer_del(pc->deadline);
	pgc_clean(pc, pc->detail, sizeof(pc->detail), msg);
	if (reason == PGCHECK_OK) {
		pc->attempt_failures = 0;
		pc->next_attempt_ms = 0;
		pc->state = PGC_IDLE;
		pgc_watch_idle(pc);
	} else {
		pgc_cancel_resolve(pc);
		pgc_drop_conn(pc);
		if (pc->attempt) {
			pc->attempt_failures++;
			pc->next_attempt_ms =
				mono_ms() + backoff_ms(pc->attempt_failures);
		} else {
			/* An existing connection failed (timeout): retry at
			 * the next check without waiting. */
			pc->next_attempt_ms = 0;
		}
		pc->last_reason = reason;
		pc->state = PGC_IDLE;
	}
	pc->hooks.done(pc->arg, reason, pc->detail);
}

/* --- the idle connection -------------------------------------------------- */

static void
pgc_idle_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pgcheck *pc = arg;
	PGnotify *n;
	int alive;

	(void)fd;
	(void)what;
	/* Readable while idle: a notice, a FATAL before the server closes the
	 * connection (shutdown, admin kill), or EOF. PQisBusy parses what
	 * came (notices go to pgc_notice). */
	alive = PQconsumeInput(pc->conn);
	if (alive) {
		(void)PQisBusy(pc->conn);
		alive = PQstatus(pc->conn) == CONNECTION_OK;
	}
	if (!alive) {
		char msg[2 * PGC_DETAIL_LEN];

		snprintf(msg, sizeof(msg), "%s %s", pc->notice,
			 PQerrorMessage(pc->conn));
		pgc_clean(pc, pc->detail, sizeof(pc->detail), msg);
		pgc_drop_conn(pc);
		pc->attempt_failures = 0;
		pc->next_attempt_ms = 0;
		pc->last_reason = PGCHECK_LOST;
		if (pc->hooks.lost)
			pc->hooks.lost(pc->arg, pc->detail);
		return;
	}
	while ((n = PQnotifies(pc->conn)) != NULL)
		PQfreemem(n);
	pgc_watch_idle(pc);
}

static void
pgc_watch_idle(struct pgcheck *pc)
{
	if (pc->conn && pgc_arm(pc, EV_READ, pgc_idle_cb) < 0)
		pgc_drop_conn(pc);
}

/* --- the query ------------------------------------------------------------ */

static void
pgc_query_failed(struct pgcheck *pc, enum pgcheck_reason reason,
		 const char *msg)
{
	if (pc->reused && !pc->attempt && reason != PGCHECK_TIMEOUT) {
		/* A connection idle since the last check went stale (server
		 * restart, failover): one fresh attempt within this deadline
		 * instead of a spurious 503. */
		pgc_clean(pc, pc->detail, sizeof(pc->detail), msg);
		pgc_log(pc, PGCHECK_LOG_DEBUG,
			"database connection failed; reconnecting", "detail",
			pc->detail);
		pgc_drop_conn(pc);
		pgc_start_connect(pc);
		return;
	}
	pgc_finish(pc, reason, msg);
}

static void
pgc_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pgcheck *pc = arg;

	(void)fd;
	(void)what;
	if (!PQconsumeInput(pc->conn)) {
		const char *msg = PQerrorMessage(pc->conn);

		pgc_query_failed(pc, pgc_classify(msg, 0), msg);
		return;
	}
	while (!PQisBusy(pc->conn)) {
		PGresult *res = PQgetResult(pc->conn);

		if (!res) {
			/* Every result read; the connection is idle again. */
			if (pc->query_reason != PGCHECK_OK)
				pgc_query_failed(pc, pc->query_reason,
						 pc->query_msg);
			else if (PQstatus(pc->conn) != CONNECTION_OK)
				pgc_query_failed(pc, PGCHECK_LOST,
						 PQerrorMessage(pc->conn));
			else
				pgc_finish(pc, PGCHECK_OK, NULL);
			return;
		}
		if (PQresultStatus(res) != PGRES_TUPLES_OK &&
		    pc->query_reason == PGCHECK_OK) {
			pc->query_reason = pgc_classify_result(res);
			pgc_clean(pc, pc->query_msg, sizeof(pc->query_msg),
				  PQresultErrorMessage(res));
		}
		PQclear(res);
	}
	if (pgc_arm(pc, EV_READ, pgc_read_cb) < 0)
		pgc_query_failed(pc, PGCHECK_LOST, "lost the socket");
}

static void pgc_flush(struct pgcheck *pc);

static void
pgc_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pgcheck *pc = arg;

	(void)fd;
	/* libpq: while a flush is pending, read input too, or a server that
	 * is itself blocked on writing to us could deadlock. */
	if ((what & EV_READ) && !PQconsumeInput(pc->conn)) {
		const char *msg = PQerrorMessage(pc->conn);

		pgc_query_failed(pc, pgc_classify(msg, 0), msg);
		return;
	}
	pgc_flush(pc);
}

static void
pgc_flush(struct pgcheck *pc)
{
	int r = PQflush(pc->conn);
	int armed;

	if (r < 0) {
		const char *msg = PQerrorMessage(pc->conn);

		pgc_query_failed(pc, pgc_classify(msg, 0), msg);
		return;
	}
	if (r > 0)
		armed = pgc_arm(pc, EV_READ | EV_WRITE, pgc_flush_cb);
	else
		armed = pgc_arm(pc, EV_READ, pgc_read_cb);
	if (armed < 0)
		pgc_query_failed(pc, PGCHECK_LOST, "lost the socket");
}

static void
pgc_send_query(struct pgcheck *pc)
{
	pc->state = PGC_QUERYING;
	pc->query_reason = PGCHECK_OK;
	pc->query_msg[0] = '\0';
	if (!PQsendQuery(pc->conn, PGC_QUERY)) {
		const char *msg = PQerrorMessage(pc->conn);

		pgc_query_failed(pc, pgc_classify(msg, 0), msg);
		return;
	}
	pgc_flush(pc);
}

/* --- connecting ----------------------------------------------------------- */

static void
pgc_connect_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pgcheck *pc = arg;
	int armed = 0;

	(void)fd;
	(void)what;
	switch (PQconnectPoll(pc->conn)) {
	case PGRES_POLLING_READING:
		armed = pgc_arm(pc, EV_READ, pgc_connect_cb);
		break;
	case PGRES_POLLING_WRITING:
		armed = pgc_arm(pc, EV_WRITE, pgc_connect_cb);
		break;
	case PGRES_POLLING_OK:
		pgc_io_free(pc);
		/* Non-blocking from now on: PQflush and PQfinish's Terminate
		 * message must never wait for the socket. */
		if (PQsetnonblocking(pc->conn, 1) != 0) {
			pgc_finish(pc, PGCHECK_INTERNAL,
				   PQerrorMessage(pc->conn));
			return;
		}
		pgc_log(pc, PGCHECK_LOG_INFO, "database connection established",
			"host",
			PQhost(pc->conn) && *PQhost(pc->conn) ? PQhost(pc->conn)
							      : "default");
		pgc_send_query(pc);
		return;
	default: {
		const char *msg = PQerrorMessage(pc->conn);

		pgc_finish(pc, pgc_classify(msg, 1), msg);
		return;
	}
	}
	if (armed < 0)
		pgc_finish(pc, PGCHECK_INTERNAL, "cannot watch the socket");
}

/* Add one host entry: HOST, its address ("" for none) and port. */
static void
add_target(struct pgc_list *h, struct pgc_list *a, struct pgc_list *p,
	   const char *host, const char *addr, const char *port)
{
	list_add(h, host);
	list_add(a, addr);
	if (port)
		list_add(p, port);
}

/* Append the addresses one lookup found (at most PGC_MAX_ADDRS, no
 * duplicates). Returns how many were added. */
static int
add_resolved(struct pgc_list *h, struct pgc_list *a, struct pgc_list *p,
	     const char *host, const char *port,
	     const struct evutil_addrinfo *ai)
{
	char seen[PGC_MAX_ADDRS][INET6_ADDRSTRLEN];
	int n = 0;

	for (; ai && n < PGC_MAX_ADDRS; ai = ai->ai_next) {
		char buf[INET6_ADDRSTRLEN];
		const void *src;
		int dup = 0;

		if (ai->ai_family == AF_INET)
			src = &((const struct sockaddr_in *)ai->ai_addr)
				       ->sin_addr;
		else if (ai->ai_family == AF_INET6)
			src = &((const struct sockaddr_in6 *)ai->ai_addr)
				       ->sin6_addr;
		else
			continue;
		if (!evutil_inet_ntop(ai->ai_family, src, buf, sizeof(buf)))
			continue;
		for (int i = 0; i < n; i++)
			dup |= !strcmp(seen[i], buf);
		if (dup)
			continue;
		strcpy(seen[n++], buf);
		add_target(h, a, p, host, buf, port);
	}
	return n;
}

static enum pgcheck_reason
lookup_reason(int err)
{
	if (err == EVUTIL_EAI_NONAME || err == EVUTIL_EAI_NODATA ||
	    err == EVUTIL_EAI_FAMILY || err == EVUTIL_EAI_ADDRFAMILY)
		return PGCHECK_HOST_NOT_FOUND;
	return PGCHECK_DNS_ERROR;
}

/* Start libpq's connection with every host name replaced by addresses. */
static void
pgc_connect(struct pgcheck *pc, const struct pgc_resolve *rs)
{
	struct pgc_list h = {0}, a = {0}, p = {0};
	const char **kw = pc->kw, **val = pc->val;
	int n = pc->nopt;
	int dns_err = 0;

	if (pc->expand_hosts) {
		for (int i = 0; i < pc->nhosts; i++) {
			const char *port = pc->nports > 1 ? pc->ports[i] : NULL;
			const struct pgc_lookup *lk = NULL;

			switch (pc->htype[i]) {
			case PGC_HOST_NAME:
				for (int j = 0; rs && j < rs->n; j++)
					if (rs->lk[j].host == i)
						lk = &rs->lk[j];
				if (!lk || lk->err || !lk->ai) {
					if (!dns_err)
						dns_err = lk ? lk->err
							     : EVUTIL_EAI_FAIL;
					break;
				}
				add_resolved(&h, &a, &p, pc->hosts[i], port,
					     lk->ai);
				break;
			case PGC_HOST_NUMERIC:
				add_target(&h, &a, &p, pc->hosts[i],
					   pc->hosts[i], port);
				break;
			default:
				add_target(&h, &a, &p, pc->hosts[i], "", port);
				break;
			}
		}
		if (h.failed || a.failed || p.failed) {
			pgc_finish(pc, PGCHECK_INTERNAL, "out of memory");
			goto out;
		}
		if (h.n == 0) {
			pgc_finish(pc, lookup_reason(dns_err),
				   evutil_gai_strerror(dns_err));
			goto out;
		}
		kw[n] = "host";
		val[n++] = h.s;
		kw[n] = "hostaddr";
		val[n++] = a.s;
		if (pc->nports == 1) {
			kw[n] = "port";
			val[n++] = pc->ports[0];
		} else if (pc->nports > 1) {
			kw[n] = "port";
			val[n++] = p.s;
		}
	}
	kw[n] = NULL;
	val[n] = NULL;

	pc->state = PGC_CONNECTING;
	pc->notice[0] = '\0';
	pc->conn = PQconnectStartParams(kw, val, 0);
	if (!pc->conn) {
		pgc_finish(pc, PGCHECK_INTERNAL, "out of memory");
		goto out;
	}
	PQsetNoticeProcessor(pc->conn, pgc_notice, pc);
	if (PQstatus(pc->conn) == CONNECTION_BAD) {
		const char *msg = PQerrorMessage(pc->conn);

		pgc_finish(pc, pgc_classify(msg, 1), msg);
		goto out;
	}
	/* libpq: start as if PQconnectPoll had returned WRITING. */
	if (pgc_arm(pc, EV_WRITE, pgc_connect_cb) < 0)
		pgc_finish(pc, PGCHECK_INTERNAL, "cannot watch the socket");
out:
	/* libpq copied the parameters. */
	free(h.s);
	free(a.s);
	free(p.s);
}

static void
pgc_resolve_complete(struct pgc_resolve *rs)
{
	struct pgcheck *pc = rs->pc;

	if (pc) {
		pc->rs = NULL;
		pgc_connect(pc, rs);
	}
	resolve_free(rs);
}

static void
pgc_resolved(int err, struct evutil_addrinfo *ai, void *arg)
{
	struct pgc_lookup *lk = arg;
	struct pgc_resolve *rs = lk->rs;

	lk->done = 1;
	lk->req = NULL;
	lk->err = err;
	lk->ai = ai;
	if (--rs->pending == 0)
		pgc_resolve_complete(rs);
}

static void
pgc_start_connect(struct pgcheck *pc)
{
	struct evutil_addrinfo hints;
	struct pgc_resolve *rs;

	pc->attempt = 1;
	if (!pc->need_dns) {
		pgc_connect(pc, NULL);
		return;
	}
	rs = calloc(1, sizeof(*rs));
	if (!rs) {
		pgc_finish(pc, PGCHECK_INTERNAL, "out of memory");
		return;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	rs->pc = pc;
	/* Hold a reference while launching: evdns answers from /etc/hosts
	 * (and numeric names) inside evdns_getaddrinfo itself. */
	rs->pending = 1;
	pc->rs = rs;
	pc->state = PGC_RESOLVING;
	for (int i = 0; i < pc->nhosts; i++) {
		struct pgc_lookup *lk;
		struct evdns_getaddrinfo_request *req;

		if (pc->htype[i] != PGC_HOST_NAME)
			continue;
		lk = &rs->lk[rs->n++];
		lk->rs = rs;
		lk->host = i;
		rs->pending++;
		req = evdns_getaddrinfo(pc->dns, pc->hosts[i], NULL, &hints,
					pgc_resolved, lk);
		if (!lk->done) {
			if (req) {
				lk->req = req;
			} else { /* not started and no callback */
				lk->done = 1;
				lk->err = EVUTIL_EAI_FAIL;
				rs->pending--;
			}
		}
	}
	if (--rs->pending == 0)
		pgc_resolve_complete(rs);
}

/* --- public --------------------------------------------------------------- */

static void
pgc_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pgcheck *pc = arg;
	static const char *const stage[] = {
		[PGC_IDLE] = "idle",
		[PGC_RESOLVING] = "resolving the host name",
		[PGC_CONNECTING] = "connecting",
		[PGC_QUERYING] = "waiting for the query",
	};
	char msg[128];

	(void)fd;
	(void)what;
	snprintf(msg, sizeof(msg), "no answer within %u ms while %s",
		 pc->timeout_ms, stage[pc->state]);
	pgc_finish(pc, PGCHECK_TIMEOUT, msg);
}

int
evapi_pgcheck_run(struct pgcheck *pc)
{
	struct timeval tv;
	uint64_t now;

	if (pc->state != PGC_IDLE)
		return -1;
	pc->attempt = 0;
	pc->reused = 0;
	now = mono_ms();
	if (!pc->conn && now < pc->next_attempt_ms) {
		char msg[96];

		snprintf(msg, sizeof(msg), "%s; next attempt in %llu ms",
			 evapi_pgcheck_reason_str(pc->last_reason),
			 (unsigned long long)(pc->next_attempt_ms - now));
		pc->hooks.done(pc->arg, pc->last_reason, msg);
		return 0;
	}
	tv.tv_sec = pc->timeout_ms / 1000;
	tv.tv_usec = (pc->timeout_ms % 1000) * 1000;
	evtimer_add(pc->deadline, &tv);
	if (pc->conn) {
		pc->reused = 1;
		pgc_send_query(pc);
	} else {
		pgc_start_connect(pc);
	}
	return 0;
}

static const char *
opt_value(const struct pgcheck *pc, const char *key);

/* No user in DATABASE_URL nor PGUSER: libpq takes the name of the Unix
 * user, and fails every check when the uid has no passwd entry (a scratch
 * image run with --user 12345). Then evapi uses "evapi", the user its
 * images define, so the behaviour does not depend on /etc/passwd. */
static int
pgc_default_user(struct pgcheck *pc, int n)
{
	if (opt_value(pc, "user") || getenv("PGUSER") ||
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
pgc_default_rootcert(struct pgcheck *pc, int n)
{
	const char *mode = opt_value(pc, "sslmode"), *home = getenv("HOME");
	const char *bundle = getenv("SSL_CERT_FILE");
	char own[1024];

	if (!mode)
		mode = getenv("PGSSLMODE");
	if (!mode || strncmp(mode, "verify-", 7) != 0 ||
	    opt_value(pc, "sslrootcert") || getenv("PGSSLROOTCERT"))
		return n;
	if (home && snprintf(own, sizeof(own), "%s/.postgresql/root.crt",
			     home) < (int)sizeof(own) &&
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
static int
pgc_configure(struct pgcheck *pc, char *err, size_t errlen)
{
	const char *host = NULL, *hostaddr = NULL, *port = NULL;
	int have_gss = 0, n = 0, count = 0;
	PQconninfoOption *o;

	for (o = pc->opts; o->keyword; o++)
		count++;
	/* + host, hostaddr, port, fallback_application_name, gssencmode,
	 * user, sslrootcert and the terminating NULL. */
	pc->kw = calloc((size_t)count + 8, sizeof(*pc->kw));
	pc->val = calloc((size_t)count + 8, sizeof(*pc->val));
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
		pc->nhosts = split_list(pc->hostbuf, pc->hosts, PGC_MAX_HOSTS);
		if (pc->nhosts < 0) {
			snprintf(err, errlen, "more than %d hosts",
				 PGC_MAX_HOSTS);
			return -1;
		}
		pc->nports = *pc->portbuf ? split_list(pc->portbuf, pc->ports,
						       PGC_MAX_HOSTS)
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
			if (pc->htype[i] == PGC_HOST_NAME)
				pc->need_dns = 1;
		}
	}
	pc->kw[n] = "fallback_application_name";
	pc->val[n++] = PGC_APP_NAME;
	/* GSSAPI encryption ("prefer" by default) asks the Kerberos library
	 * for credentials synchronously, which may contact a KDC. Only when
	 * the operator asked for it. */
	if (!have_gss && !getenv("PGGSSENCMODE")) {
		pc->kw[n] = "gssencmode";
		pc->val[n++] = "disable";
	}
	n = pgc_default_user(pc, n);
	n = pgc_default_rootcert(pc, n);
	pc->nopt = n;
	return 0;
}

/* Length of a "postgresql://" or "postgres://" prefix in any case, 0 if
 * none: what the user meant as a URI (libpq itself wants lower case). */
static size_t
pgc_uri_prefix(const char *s)
{
	if (strncasecmp(s, "postgresql://", 13) == 0)
		return 13;
	if (strncasecmp(s, "postgres://", 11) == 0)
		return 11;
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
pgc_dbname_is_conninfo(const struct pgcheck *pc)
{
	const PQconninfoOption *o;

	for (o = pc->opts; o->keyword; o++)
		if (!strcmp(o->keyword, "dbname") && o->val)
			return pgc_uri_prefix(o->val) > 0 ||
			       strchr(o->val, '=') != NULL;
	return 0;
}

struct pgcheck *
evapi_pgcheck_new(struct event_base *base, const char *conninfo,
		  unsigned timeout_ms, const struct pgcheck_hooks *hooks,
		  void *arg, char *err, size_t errlen)
{
	struct pgcheck *pc = NULL;
	char *perr = NULL;
	size_t prefix;

	if (!conninfo || !hooks || !hooks->done) {
		snprintf(err, errlen, "no connection string");
		return NULL;
	}
	pc = calloc(1, sizeof(*pc));
	if (!pc) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pc->base = base;
	pc->hooks = *hooks;
	pc->arg = arg;
	pc->timeout_ms = timeout_ms;
	pc->state = PGC_IDLE;
	pc->last_reason = PGCHECK_CONNECT_FAILED;
	prefix = pgc_uri_prefix(conninfo);
	if (prefix > 0 && pgc_uri_ambiguous(conninfo, prefix)) {
		snprintf(err, errlen,
			 "an unencoded '@' or '/' in the user name or password "
			 "would be taken as part of the host or database: "
			 "percent-encode '@' as %%40 and '/' as %%2F");
		goto fail;
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
			snprintf(err, errlen, "not a valid postgresql:// URI "
					      "(the scheme must be lower case)");
		else
			snprintf(err, errlen, "not a valid postgresql:// URI");
		goto fail;
	}
	if (pgc_dbname_is_conninfo(pc)) {
		/* psql would expand it; evapi passes dbname as a name, so the
		 * server would echo it, password and all, in its error. */
		snprintf(err, errlen,
			 "dbname is itself a connection string, which evapi "
			 "does not expand: put its parts in DATABASE_URL");
		goto fail;
	}
	if (pgc_configure(pc, err, errlen) < 0)
		goto fail;
	pc->deadline = evtimer_new(base, pgc_deadline_cb, pc);
	if (!pc->deadline) {
		snprintf(err, errlen, "cannot create a timer");
		goto fail;
	}
	if (pc->need_dns) {
		/* Reads /etc/resolv.conf and /etc/hosts once, now, before the
		 * loop runs (EVDNS_BASE_INITIALIZE_NAMESERVERS loads the
		 * hosts file too). */
		pc->dns =
			evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
		if (!pc->dns) {
			snprintf(err, errlen, "cannot start the DNS resolver");
			goto fail;
		}
	}
	PQfreemem(perr);
	return pc;
fail:
	PQfreemem(perr);
	evapi_pgcheck_free(pc);
	return NULL;
}

static const char *
opt_value(const struct pgcheck *pc, const char *key)
{
	for (const PQconninfoOption *o = pc->opts; o->keyword; o++)
		if (!strcmp(o->keyword, key) && o->val && *o->val)
			return o->val;
	return NULL;
}

void
evapi_pgcheck_target(const struct pgcheck *pc, char *out, size_t outlen)
{
	static const char *const keys[] = {"host",   "hostaddr", "port",
					   "dbname", "user",	 "sslmode"};
	size_t len = 0;

	out[0] = '\0';
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *v = opt_value(pc, keys[i]);
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

void
evapi_pgcheck_free(struct pgcheck *pc)
{
	if (!pc)
		return;
	pgc_cancel_resolve(pc);
	pgc_drop_conn(pc);
	if (pc->deadline)
		event_free(pc->deadline);
	if (pc->dns)
		evdns_base_free(pc->dns, 0);
	free(pc->kw);
	free(pc->val);
	free(pc->hostbuf);
	free(pc->portbuf);
	if (pc->opts)
		PQconninfoFree(pc->opts);
	free(pc);
}
