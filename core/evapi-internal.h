/*
 * evapi-internal.h - declarations shared by the core's files. Not installed.
 */
#ifndef EVAPI_INTERNAL_H
#define EVAPI_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <evapi/plugin.h>

/* sysexits.h: EX_CONFIG. Every configuration or plugin error exits so. */
#define EVAPI_EXIT_CONFIG 78

#define EVAPI_MAX_PLUGINS 32
#define EVAPI_MAX_ROUTES 64
#define EVAPI_MAX_WORKERS 256
#define EVAPI_NAME_MAX 64

/* ---- configuration (config.c) ------------------------------------------ */

struct evapi_config {
	unsigned port;
	char bind_address[64]; /* literal IPv4 or IPv6 address */
	int log_level;
	char environment[128];
	char plugins_raw[512];
	char plugin_names[EVAPI_MAX_PLUGINS][EVAPI_NAME_MAX];
	size_t nplugins;
	char plugin_dir[1024];
	unsigned shutdown_timeout; /* seconds */
	unsigned drain_delay;      /* seconds */
	unsigned long max_header_size;
	unsigned long max_body_size;
	unsigned idle_timeout;        /* seconds */
	unsigned header_timeout;      /* seconds */
	unsigned long max_connections;
	unsigned probe_port;          /* 0: no separate probe listener */
	unsigned workers;             /* 0 until resolved: auto */
	int access_log;
	unsigned healthcheck_timeout_ms;
};

/* One core variable: the single source for parsing, errors and --help. */
struct evapi_core_var {
	const char *name;
	const char *dflt;
	const char *allowed;
	const char *help;
};
extern const struct evapi_core_var evapi_core_vars[]; /* ended by NULL */

/* Reads a variable; a test or fuzzer may substitute its own. */
typedef const char *(*evapi_getenv_fn)(const char *name, void *arg);

/* Parse and validate every core variable. On error returns EVAPI_ERR with
 * one line in ERR ("NAME=value: what is allowed"). */
int evapi_config_load(struct evapi_config *cfg, evapi_getenv_fn get,
		      void *arg, char *err, size_t errlen);
/* Split a comma-separated plugin list; validates every name. */
int evapi_parse_plugin_list(const char *list, char names[][EVAPI_NAME_MAX],
			    size_t max, size_t *n, char *err, size_t errlen);
int evapi_parse_uint(const char *s, unsigned long min, unsigned long max,
		     unsigned long *out);
int evapi_valid_plugin_name(const char *name);
/* Number of CPUs this process may use: affinity mask and cgroup quota. */
unsigned evapi_available_cpus(void);
void evapi_config_print_help(const char *prog, const char *plugin_dir);
/* "NAME=\"value\" is not valid: expected ALLOWED" (value quoted safely) */
void evapi_config_error_line(char *err, size_t errlen, const char *name,
			     const char *value, const char *allowed);
/* The compiled-in defaults, for --help and the man page. */
extern const char evapi_default_plugin_dir[];
extern const char *const evapi_shipped_plugins[];

/* ---- logging (log.c) ---------------------------------------------------- */

extern int evapi_log_level;
void evapi_log(int level, const char *msg, ...);
void evapi_logv(int level, const char *msg, va_list ap);
int evapi_log_level_parse(const char *s);
const char *evapi_log_level_name(int level);
/* One line on stderr "evapi: ..." for errors before logging is set up. */
void evapi_die_config(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
void evapi_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- allocation (alloc.c) --------------------------------------------- */

/* Per-thread small-object cache for libevent; call before any libevent
 * function. flush returns the calling thread's cache to libc. */
void evapi_alloc_install(void);
void evapi_alloc_flush(void);

/* ---- secrets (redact.c) ------------------------------------------------- */

void evapi_redact_conninfo(const char *in, char *out, size_t outlen);

/* ---- build facts (build-info.c, generated) ------------------------------ */

extern const char evapi_build_version[];
extern const char evapi_build_commit[];
extern const char evapi_build_date[];

/* ---- plugins (plugins.c, loader-*.c) ------------------------------------ */

struct evapi_server;
struct evhttp_connection;

struct evapi_host {
	const struct evapi_plugin *desc;
	char name[EVAPI_NAME_MAX];
	char path[1100]; /* file it came from, or "built-in" */
	void *dl_handle;
	void *state;
	int initialised;
	int reported; /* an error about this plugin was already printed */
	struct evapi_server *server;
};

/* Find and open plugin NAME; fills host->desc, path, dl_handle. On failure
 * prints the reason (naming plugin and file) and returns EVAPI_ERR. */
int evapi_plugin_open(struct evapi_host *host, const char *name,
		      const char *dir);
void evapi_plugin_close(struct evapi_host *host);
/* Check a descriptor against this host: magic, ABI, sizes, name. Prints
 * each differing field on its own line. */
int evapi_plugin_check(const struct evapi_plugin *p, const char *name,
		       const char *path);
/* The list of plugins available to API_PLUGINS (for error messages). */
void evapi_plugin_available(const char *dir, char *out, size_t outlen);
/* "dynamic" or "static" */
extern const char evapi_plugin_mode[];

int evapi_plugins_init(struct evapi_server *srv);
void evapi_plugins_fini(struct evapi_server *srv);
const struct evapi_api *evapi_host_api(void);
/* The descriptor of a shipped plugin for --help, or NULL. */
const struct evapi_plugin *evapi_plugin_peek(const char *name,
					     const char *dir);

/* ---- routes and replies (router.c, reply.c) ---------------------------- */

struct evapi_route {
	char path[256];
	size_t path_len;
	unsigned methods;
	evapi_handler_fn fn;
	void *arg;
	evapi_answer_fn answer; /* NULL: the handler answers every request */
	void *answer_arg;
	const struct evapi_host *owner;
};

struct evapi_body {
	const char *data;
	size_t len;
	char content_length[24];
};

struct evapi_router {
	struct evapi_route routes[EVAPI_MAX_ROUTES];
	size_t nroutes;
};

int evapi_router_add(struct evapi_router *r, const struct evapi_host *owner,
		     unsigned methods, const char *path, evapi_handler_fn fn,
		     void *arg);
/* Exact match of the raw path (request target up to '?'). */
const struct evapi_route *evapi_router_find(const struct evapi_router *r,
					    const char *target);
/* TARGET is LEN bytes, not NUL-terminated; a query is ignored. */
const struct evapi_route *evapi_router_find_n(const struct evapi_router *r,
					      const char *target, size_t len);
const struct evapi_route *evapi_router_owner(const struct evapi_router *r,
					     const char *path);
struct evapi_route *evapi_router_owned(struct evapi_router *r,
				       const struct evapi_host *owner,
				       const char *path);

struct evapi_body *evapi_body_new(const char *json);
void evapi_bodies_free(void);
void evapi_reply_body(struct evhttp_request *req, int status,
		      const struct evapi_body *body);
void evapi_reply_json(struct evhttp_request *req, int status,
		      struct json_object *obj);
void evapi_reply_error(struct evhttp_request *req, int status,
		       const char *message);

/* ---- server (server.c) -------------------------------------------------- */

struct evapi_worker;

struct evapi_server {
	struct evapi_config cfg;
	struct evapi_router router;
	struct evapi_host hosts[EVAPI_MAX_PLUGINS];
	size_t nhosts;
	char active_plugins[512];
	struct evapi_worker *workers;
	unsigned nworkers;
	volatile int draining;
	int stopped; /* loops ended: no handler may run any more */
	unsigned long fast_served; /* summed over the loops at the stop */
	unsigned long accept_served; /* of those, answered at accept time */
};


/* Runs until drained; with CHECK_ONLY stops after plugin init, binding
 * nothing. Returns 0, or EVAPI_EXIT_CONFIG, or EVAPI_ERR. */
int evapi_server_run(struct evapi_server *srv, int check_only);
struct event_base *evapi_server_main_base(struct evapi_server *srv);
/* Non-zero once a drain started: answers then close their connection. */
int evapi_server_draining(void);
/* Called by reply functions: a request got its answer. */
void evapi_request_answered(struct evhttp_request *req, int status);
/* The Date header's value, formatted once a second per thread. */
const char *evapi_http_date(void);
/* Writes a just-queued reply at once; frees the request (flush.c). */
void evapi_flush(struct evhttp_connection *evcon);

/* ---- healthcheck client (healthcheck.c) -------------------------------- */

int evapi_healthcheck(const struct evapi_config *cfg);

/* Version facts of the libraries actually linked. */
const char *evapi_libevent_version(void);
const char *evapi_jsonc_version(void);

#endif /* EVAPI_INTERNAL_H */
