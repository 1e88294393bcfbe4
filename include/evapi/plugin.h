/*
 * evapi/plugin.h - the evapi plugin contract, ABI 2.1.
 *
 * The one header a plugin needs. It includes only the C standard library
 * and names no libevent type; json-c's json_object appears only as a
 * pointer (forward-declared), for plugins that build JSON with json-c.
 *
 * A plugin is a descriptor plus functions:
 *
 *     #include <evapi/plugin.h>
 *
 *     static void hello_get(evapi_request *req, void *state)
 *     {
 *             const char *name = evapi_request_param(req, "name");
 *             ...
 *             evapi_respond_json(req, 200, obj);
 *     }
 *
 *     static const struct evapi_route hello_routes[] = {
 *             {EVAPI_GET, "/hello/{name}", hello_get, 0},
 *             EVAPI_ROUTES_END
 *     };
 *
 *     EVAPI_PLUGIN(hello) = {
 *             EVAPI_PLUGIN_HEADER,
 *             .name = "hello",
 *             .version = "1.0.0",
 *             .description = "greetings",
 *             .routes = hello_routes,
 *     };
 *
 * The same source builds as hello.so (the dynamic build dlopens
 * API_PLUGIN_PATH/hello.so and reads the symbol evapi_plugin_hello) or
 * compiled into a static evapi (configure --with-plugins=DIR). No #ifdef
 * is needed for either. The functions below are the host's: a plugin .so
 * leaves them undefined and the loader binds them to the evapi binary.
 *
 * Versioning
 *   EVAPI_ABI_MAJOR changes when a structure below or a function's meaning
 *   changes: the host refuses a plugin built for another major and says to
 *   rebuild it. EVAPI_ABI_MINOR changes when functions or descriptor
 *   members are added: the host refuses a plugin that needs a newer minor.
 *
 * Threads (evapi runs WORKERS event loops, one per thread)
 *   - init and fini run on the main thread, before any loop runs and after
 *     every loop has stopped. Routes, bodies and exports are made in init.
 *   - A handler runs on the loop that accepted the connection. It answers
 *     its request exactly once, with one evapi_respond* call, on that
 *     loop: before it returns, or later after evapi_defer(), from a timer,
 *     an io watch or a loop call on the request's loop.
 *   - Handlers of one route run at the same time on different loops:
 *     state shared between requests is read-only after init, or guarded.
 *   - evapi_loop_call() is the one function any thread may call; it runs
 *     a function on a given loop.
 *
 * Errors: functions return EVAPI_OK (0) or EVAPI_ERR (-1), like Redis
 * modules, or NULL. Bad arguments are reported in the log, never crash.
 */
#ifndef EVAPI_PLUGIN_H
#define EVAPI_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EVAPI_PLUGIN_MAGIC 0x45764170u /* "EvAp" */
#define EVAPI_ABI_MAJOR 2
#define EVAPI_ABI_MINOR 1 /* 2.1: metrics, evapi_request_id */

#define EVAPI_OK 0
#define EVAPI_ERR (-1)

#if defined(__GNUC__)
#define EVAPI_EXPORT __attribute__((visibility("default")))
#define EVAPI_SENTINEL __attribute__((sentinel))
#else
#define EVAPI_EXPORT
#define EVAPI_SENTINEL
#endif

/* ---- types the host owns (opaque) ------------------------------------ */

typedef struct evapi_ctx evapi_ctx;         /* one plugin, as the host sees it */
typedef struct evapi_request evapi_request; /* one HTTP request */
typedef struct evapi_body evapi_body;       /* a constant body, built at init */
typedef struct evapi_loop evapi_loop;       /* one event loop (one thread) */
typedef struct evapi_timer evapi_timer;
typedef struct evapi_io evapi_io;
typedef struct evapi_lookup evapi_lookup;
typedef struct evapi_metric evapi_metric; /* a metric family (2.1) */
typedef struct evapi_series evapi_series; /* one of its series (2.1) */

struct json_object;

/* ---- methods and routes ---------------------------------------------- */

/* Methods a route answers, or'ed. GET also answers HEAD (same status and
 * headers, no body). OPTIONS is answered by the host (204 with Allow). */
#define EVAPI_GET 0x01u
#define EVAPI_HEAD 0x02u
#define EVAPI_POST 0x04u
#define EVAPI_PUT 0x08u
#define EVAPI_PATCH 0x10u
#define EVAPI_DELETE 0x20u
#define EVAPI_OPTIONS 0x40u

/* Route flags. */
/* A probe: also served on PROBE_PORT, kept out of the access log unless
 * ACCESS_LOG_PROBES=on, and never delayed by the connection cap. */
#define EVAPI_ROUTE_PROBE 0x01u

/* STATE is what init stored in *state (routes of the descriptor) or the
 * ARG given to evapi_route_add. */
typedef void (*evapi_handler_fn)(evapi_request *req, void *state);

/* One route. PATTERN is an absolute path of literal segments and {name}
 * segments: "/items" or "/items/{id}". A {name} segment matches one
 * non-empty segment; evapi_request_param(req, "name") gives it decoded.
 * An exact path wins over a pattern, and literal segments over {name}. */
struct evapi_route {
	unsigned methods;
	const char *pattern;
	evapi_handler_fn handler;
	unsigned flags;
};
#define EVAPI_ROUTES_END                                                       \
	{                                                                      \
		0, NULL, NULL, 0                                               \
	}

/* ---- typed settings ----------------------------------------------------- */

/* A setting is an environment variable the host reads, validates (with
 * its own variables, before binding any port; a bad value exits 78 with
 * one line) and lists in evapi --help. */
enum evapi_setting_type {
	EVAPI_SETTING_INT = 1,  /* whole number in [min, max] */
	EVAPI_SETTING_DURATION, /* "250ms", "2s", "1m", "1h" or a number of
				   ms; in [min, max] milliseconds */
	EVAPI_SETTING_BOOL,     /* on/off, true/false, 1/0 */
	EVAPI_SETTING_STRING,   /* printable text of min to max bytes */
	EVAPI_SETTING_ENUM,     /* one of CHOICES, "a|b|c" */
	EVAPI_SETTING_SECRET,   /* a secret (a URL with a password): never
				   printed by the host; min to max bytes */
};

/* Setting flags. */
#define EVAPI_SETTING_REQUIRED 0x01u /* no default: unset is an error */

struct evapi_setting {
	const char *name;          /* "HELLO_MAX_SLEEP_MS" */
	enum evapi_setting_type type;
	const char *default_value; /* as written in the environment; NULL:
				      none (REQUIRED, or unset allowed) */
	long long min, max;        /* see the types */
	const char *choices;       /* EVAPI_SETTING_ENUM */
	const char *help;          /* one line, for --help */
	unsigned flags;
};
#define EVAPI_SETTINGS_END                                                     \
	{                                                                      \
		NULL, (enum evapi_setting_type)0, NULL, 0, 0, NULL, NULL, 0    \
	}

/* ---- database migrations (run by evapi --migrate) ----------------------- */

/* A numbered SQL migration a plugin carries. evapi --migrate applies the
 * ones not yet applied, in VERSION order, each in its own transaction. */
struct evapi_migration {
	unsigned version; /* 1, 2, ...: never renumber an applied one */
	const char *name; /* "create items" */
	const char *sql;
};
#define EVAPI_MIGRATIONS_END                                                   \
	{                                                                      \
		0, NULL, NULL                                                  \
	}

/* A database plugin (plugins/pg) exports this under "evapi.migrator":
 * evapi --migrate hands it the migrations of every plugin it started. */
struct evapi_migration_set {
	const char *plugin;
	const struct evapi_migration *migrations;
};
struct evapi_migrator {
	void *self;
	/* Apply the pending migrations of SETS[0 .. N-1], REPORT(ARG, ...)
	 * for each one with APPLIED 1 (applied now) or 0 (already). Returns
	 * 0, or an exit status (sysexits) with one line in ERR. */
	int (*run)(void *self, const struct evapi_migration_set *sets,
		   size_t n,
		   void (*report)(void *arg, const char *plugin,
				  unsigned version, const char *name,
				  int applied),
		   void *arg, char *err, size_t errlen);
};

/* ---- the descriptor ------------------------------------------------------ */

struct evapi_plugin {
	uint32_t magic;     /* EVAPI_PLUGIN_MAGIC */
	uint16_t abi_major; /* EVAPI_ABI_MAJOR the plugin was built with */
	uint16_t abi_minor; /* EVAPI_ABI_MINOR the plugin was built with */
	uint32_t size;      /* sizeof(struct evapi_plugin) in the plugin */
	/* Build facts that change the binary interface. */
	uint8_t pointer_size;
	uint8_t long_size;
	uint8_t int_size;
	uint8_t big_endian;

	const char *name;        /* equals the file and symbol name */
	const char *version;     /* the plugin's own version */
	const char *description; /* one line, for --help and logs */

	const struct evapi_route *routes;         /* ended by EVAPI_ROUTES_END */
	const struct evapi_setting *settings;     /* ended by EVAPI_SETTINGS_END */
	const char *const *needs;                 /* plugins started before this
						     one (loaded with it); NULL-ended */
	const struct evapi_migration *migrations; /* ended by
						     EVAPI_MIGRATIONS_END */

	/* Optional. Make what the handlers need; *STATE is passed to every
	 * handler of ROUTES and to fini. Return EVAPI_ERR after reporting
	 * why (evapi_config_error or evapi_log): evapi then exits 78. */
	int (*init)(evapi_ctx *ctx, void **state);
	/* Optional. Release what init made. Every loop has stopped: requests
	 * a plugin still holds are answered here (or by the host after). */
	void (*fini)(void *state);

	void *reserved[8]; /* zero; for members of later minors */
};

#define EVAPI_PLUGIN_HEADER                                                    \
	.magic = EVAPI_PLUGIN_MAGIC, .abi_major = EVAPI_ABI_MAJOR,             \
	.abi_minor = EVAPI_ABI_MINOR, .size = sizeof(struct evapi_plugin),     \
	.pointer_size = sizeof(void *), .long_size = sizeof(long),             \
	.int_size = sizeof(int),                                               \
	.big_endian = (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__)

/* Defines the descriptor symbol evapi_plugin_NAME the loader looks for
 * (a '-' in a plugin's name is '_' in the symbol). */
#define EVAPI_PLUGIN(name)                                                     \
	extern EVAPI_EXPORT const struct evapi_plugin evapi_plugin_##name;    \
	EVAPI_EXPORT const struct evapi_plugin evapi_plugin_##name

/* ---- during init ------------------------------------------------------------ */

/* Another route, as in the descriptor's table (HANDLER gets ARG). Fails,
 * and the host names both plugins, when the method and path are taken. */
EVAPI_EXPORT int evapi_route_add(evapi_ctx *ctx, unsigned methods,
				 const char *pattern, evapi_handler_fn handler,
				 void *arg, unsigned flags);
/* A constant JSON body, validated once; NULL (logged) when JSON is not
 * valid JSON. Owned by the host; sent without copying. */
EVAPI_EXPORT const evapi_body *evapi_body_json(evapi_ctx *ctx,
					       const char *json);
/* Offer API (any structure, usually of function pointers) to the plugins
 * that list this one in .needs, under NAME; they get it with
 * evapi_import. The memory stays the exporter's. */
EVAPI_EXPORT int evapi_export(evapi_ctx *ctx, const char *name,
			      const void *api);
EVAPI_EXPORT const void *evapi_import(evapi_ctx *ctx, const char *name);

/* ---- settings and facts (any time) ------------------------------------ */

/* The parsed value of one of this plugin's settings: INT and DURATION (in
 * ms) as a number, BOOL as 0/1, the others as text (NULL when unset). */
EVAPI_EXPORT long long evapi_setting_int(evapi_ctx *ctx, const char *name);
EVAPI_EXPORT int evapi_setting_bool(evapi_ctx *ctx, const char *name);
EVAPI_EXPORT const char *evapi_setting_str(evapi_ctx *ctx, const char *name);
/* Report a bad value found in init the way the host reports its own (one
 * line naming the variable and what is allowed; evapi exits 78). SHOWN
 * is the value as it may be printed (redact secrets first), or NULL. */
EVAPI_EXPORT void evapi_config_error(evapi_ctx *ctx, const char *name,
				     const char *shown, const char *expected);
/* Build and run facts: "version", "commit", "build_date", "build",
 * "environment", "plugins" (comma-separated), "libevent", "json-c". */
EVAPI_EXPORT const char *evapi_fact(evapi_ctx *ctx, const char *key);
/* Non-zero once SIGTERM/SIGINT started the drain. */
EVAPI_EXPORT int evapi_draining(void);

/* ---- logging ------------------------------------------------------------------ */

enum evapi_log_level {
	EVAPI_LOG_DEBUG = 0,
	EVAPI_LOG_INFO = 1,
	EVAPI_LOG_WARN = 2,
	EVAPI_LOG_ERROR = 3
};
/* One JSON log line: MSG, then key and value strings, ended by NULL:
 * evapi_log(ctx, EVAPI_LOG_WARN, "db down", "reason", why, NULL). */
EVAPI_EXPORT void evapi_log(evapi_ctx *ctx, int level, const char *msg, ...)
	EVAPI_SENTINEL;
EVAPI_EXPORT int evapi_log_enabled(evapi_ctx *ctx, int level);

/* ---- requests (on the request's loop) -------------------------------------- */

/* "GET", "HEAD", "POST", ...; and the same as an EVAPI_* bit. */
EVAPI_EXPORT const char *evapi_request_method(const evapi_request *req);
EVAPI_EXPORT unsigned evapi_request_method_id(const evapi_request *req);
/* The request target as the client sent it ("/a%20b?x=1"), the path
 * without query (still encoded; for an absolute-form target, without
 * scheme and authority), and the path percent-decoded (NULL when it holds
 * %00 or a bad escape). */
EVAPI_EXPORT const char *evapi_request_target(const evapi_request *req);
EVAPI_EXPORT const char *evapi_request_path(const evapi_request *req);
EVAPI_EXPORT const char *evapi_request_decoded_path(evapi_request *req);
/* The {NAME} segment of the route's pattern, percent-decoded UTF-8 (the
 * host answers 400 before the handler runs when it is not). */
EVAPI_EXPORT const char *evapi_request_param(const evapi_request *req,
					     const char *name);
/* Query parameters, decoded ('+' is a space), in the order sent: the
 * first value of NAME, how many NAME has, and the I-th (from 0). NULL
 * when absent; "" for "?name" and "?name=". */
EVAPI_EXPORT const char *evapi_request_query(const evapi_request *req,
					     const char *name);
EVAPI_EXPORT size_t evapi_request_query_count(const evapi_request *req,
					      const char *name);
EVAPI_EXPORT const char *evapi_request_query_at(const evapi_request *req,
						const char *name, size_t i);
/* Request headers, by name in any case: the first value, or the I-th of
 * a repeated header (from 0); NULL when absent. And all of them, in
 * order: NAME and VALUE of the I-th, EVAPI_ERR past the end. */
EVAPI_EXPORT const char *evapi_request_header(const evapi_request *req,
					      const char *name);
EVAPI_EXPORT const char *evapi_request_header_at(const evapi_request *req,
						 const char *name, size_t i);
EVAPI_EXPORT int evapi_request_header_entry(const evapi_request *req,
					    size_t i, const char **name,
					    const char **value);
/* The client's address ("192.0.2.1", "2001:db8::1") and port. */
EVAPI_EXPORT const char *evapi_request_client(const evapi_request *req);
EVAPI_EXPORT unsigned evapi_request_client_port(const evapi_request *req);
/* The body (Content-Length or chunked; at most MAX_BODY_SIZE bytes): its
 * bytes (NUL-terminated for convenience) and length. */
EVAPI_EXPORT const void *evapi_request_body(const evapi_request *req,
					    size_t *len);
/* The body parsed as JSON, owned by the request. EVAPI_ERR when the host
 * has answered instead: 415 when Content-Type is not application/json
 * (or +json), 400 naming where the JSON is wrong. Then just return. */
EVAPI_EXPORT int evapi_request_json(evapi_request *req,
				    struct json_object **out);
/* The loop the request runs on (for timers and io until it is answered). */
EVAPI_EXPORT evapi_loop *evapi_request_loop(const evapi_request *req);
/* The request's id (2.1): its X-Request-Id when the client sent a sane one
 * (1 to 128 visible ASCII bytes), else one evapi made, unique in the
 * process. Sent back in X-Request-Id, logged with the request, and in
 * the bodies of evapi_respond_error. Valid until the request is answered. */
EVAPI_EXPORT const char *evapi_request_id(const evapi_request *req);

/* ---- answering ---------------------------------------------------------------- */

/* A header for the response. EVAPI_ERR (and nothing added) when NAME is
 * not a token, VALUE holds a control character, or the host writes that
 * header itself (Content-Length, Transfer-Encoding, Connection, Date). */
EVAPI_EXPORT int evapi_response_header(evapi_request *req, const char *name,
				       const char *value);
/* Answer. Each call ends the request: do not touch REQ after it. The host
 * applies HTTP's rules: no body for HEAD (the length is still sent), 204
 * and 304; 1xx statuses are refused (500). */
EVAPI_EXPORT void evapi_respond(evapi_request *req, int status,
				const char *content_type, const void *body,
				size_t len);
/* OBJ serialised as compact JSON (OBJ is borrowed, not freed). */
EVAPI_EXPORT void evapi_respond_json(evapi_request *req, int status,
				     struct json_object *obj);
/* Ready-made JSON text, sent as application/json. */
EVAPI_EXPORT void evapi_respond_json_text(evapi_request *req, int status,
					  const char *json, size_t len);
/* A body made by evapi_body_json, sent without copying. */
EVAPI_EXPORT void evapi_respond_body(evapi_request *req, int status,
				     const evapi_body *body);
/* {"error":MESSAGE,"status":STATUS,"request_id":ID} */
EVAPI_EXPORT void evapi_respond_error(evapi_request *req, int status,
				      const char *message);
/* No body (204, 304, or a 201/202 without one). */
EVAPI_EXPORT void evapi_respond_empty(evapi_request *req, int status);

/* The handler answers later: it keeps REQ and answers from a callback on
 * the request's loop. When the client goes away first, ON_GONE (if not
 * NULL) runs once on that loop, so the plugin can cancel its work; REQ
 * must still be answered (the host drops that answer). */
EVAPI_EXPORT void evapi_defer(evapi_request *req,
			      void (*on_gone)(evapi_request *req, void *arg),
			      void *arg);
/* Non-zero when the client has gone away. */
EVAPI_EXPORT int evapi_request_gone(const evapi_request *req);

/* ---- metrics (2.1) ---------------------------------------------------------------- */

/* Prometheus's model: a metric (family) has a name, a help line, a type
 * and label names; each combination of label values is a series. The
 * core exports its own (http_requests_total, ...), plugins add theirs,
 * and the metrics plugin serves them all at GET /metrics. A plugin
 * registers in init whether or not the metrics plugin is loaded, before
 * or after it: nothing depends on the order.
 *
 * Names follow Prometheus's rules and conventions, checked at
 * registration: [a-zA-Z_:][a-zA-Z0-9_:]*, base units (seconds, bytes), a
 * counter's name ends in _total and only a counter's does; no name ends
 * in _bucket, _count or _sum. Label names: [a-zA-Z_][a-zA-Z0-9_]*, and
 * not "le" for a histogram (its buckets' own). A bad or taken name is reported naming the plugin and the
 * function returns NULL: return EVAPI_ERR from init (evapi exits 78).
 *
 * Updates never lock: each event loop's thread counts in cells of its
 * own (no cache line shared with another loop), summed when read. Any
 * other thread counts in one shared cell with atomic adds. */
#define EVAPI_METRIC_COUNTER 1
#define EVAPI_METRIC_GAUGE 2
#define EVAPI_METRIC_HISTOGRAM 3

/* In init. LABELS: the label names, NULL-ended; NULL for none. */
EVAPI_EXPORT evapi_metric *evapi_counter_new(evapi_ctx *ctx, const char *name,
					     const char *help,
					     const char *const *labels);
EVAPI_EXPORT evapi_metric *evapi_gauge_new(evapi_ctx *ctx, const char *name,
					   const char *help,
					   const char *const *labels);
/* BOUNDS: N increasing upper bounds (+Inf is implied), N at most 64; NULL
 * and 0 for evapi's request-duration buckets in seconds (0.0005 to 10). */
EVAPI_EXPORT evapi_metric *evapi_histogram_new(evapi_ctx *ctx,
					       const char *name,
					       const char *help,
					       const char *const *labels,
					       const double *bounds, size_t n);

/* The series of M with these label values, one per label name of M, then
 * NULL (just NULL for a metric without labels). The same values give the
 * same series. Any thread; it takes a lock: get series once (in init, or
 * on first use) and keep them. NULL when M is NULL, a value is not UTF-8,
 * or M has 1000 series already (logged once): values must come from a
 * small fixed set, never from a request (a path, an id). */
EVAPI_EXPORT evapi_series *evapi_series_get(evapi_metric *m, ...)
	EVAPI_SENTINEL;
/* In init: the series' value is FN(ARG), called at each read on the
 * reading thread (so FN is thread-safe and quick); for a counter or a
 * gauge whose value the plugin keeps itself (a pool's size, say). */
EVAPI_EXPORT int evapi_series_callback(evapi_series *s,
				       double (*fn)(void *arg), void *arg);

/* Updates. A NULL series does nothing. A gauge is one value (an atomic):
 * set and add from any thread. */
EVAPI_EXPORT void evapi_counter_add(evapi_series *s, uint64_t n);
EVAPI_EXPORT void evapi_gauge_set(evapi_series *s, double v);
EVAPI_EXPORT void evapi_gauge_add(evapi_series *s, double delta);
EVAPI_EXPORT void evapi_histogram_observe(evapi_series *s, double v);

/* Reading every metric (what the metrics plugin does). */
struct evapi_metric_info {
	const char *name, *help;
	int type;                   /* EVAPI_METRIC_* */
	const char *const *labels;  /* NLABELS names */
	size_t nlabels;
	const double *bounds;       /* histogram: NBOUNDS upper bounds */
	size_t nbounds;
};
struct evapi_sample {
	const char *const *values; /* NLABELS label values */
	double value;              /* counter, gauge */
	/* histogram: NBOUNDS + 1 cumulative counts, the last (+Inf) is COUNT */
	const uint64_t *buckets;
	uint64_t count;
	double sum;
};
/* FN(M, NULL, ARG) opens each metric (the core's first, then the plugins'
 * in the order registered), then FN(M, S, ARG) for each of its series
 * (the core's once they counted something, a plugin's once
 * evapi_series_get made them). Values are summed over the threads as the
 * walk passes. FN returns EVAPI_OK to go on, EVAPI_ERR to stop (the walk
 * then returns EVAPI_ERR). On a loop's thread (in a handler). */
EVAPI_EXPORT int evapi_metrics_walk(
	evapi_ctx *ctx,
	int (*fn)(const struct evapi_metric_info *m,
		  const struct evapi_sample *s, void *arg),
	void *arg);

/* The core's counters, summed over the loops now: what nginx's
 * stub_status reads. Fills the first SIZE bytes of OUT (pass
 * sizeof(*out): a later minor appends members). */
struct evapi_stats {
	uint64_t connections_open;
	uint64_t connections_accepted;
	uint64_t connections_closed;
	uint64_t connections_closed_cap;            /* MAX_CONNECTIONS */
	uint64_t connections_closed_header_timeout; /* HEADER_TIMEOUT */
	uint64_t connections_closed_idle_timeout;   /* IDLE_TIMEOUT */
	uint64_t requests;          /* answered */
	uint64_t requests_in_flight;
	uint64_t requests_refused;  /* by the request checks */
};
EVAPI_EXPORT int evapi_stats_read(evapi_ctx *ctx, struct evapi_stats *out,
				  size_t size);

/* ---- loops, timers and io ------------------------------------------------------- */

/* Loop 0 (the main thread's) and the loop of the calling thread (NULL on
 * a thread that runs none). */
EVAPI_EXPORT evapi_loop *evapi_main_loop(evapi_ctx *ctx);
EVAPI_EXPORT evapi_loop *evapi_current_loop(void);
/* How many loops run, and each one (0 .. count - 1), for per-loop state. */
EVAPI_EXPORT unsigned evapi_loop_count(void);
EVAPI_EXPORT evapi_loop *evapi_loop_at(unsigned index);
EVAPI_EXPORT unsigned evapi_loop_index(const evapi_loop *loop);
/* Run FN(ARG) on LOOP soon; any thread. EVAPI_ERR when LOOP has stopped
 * or memory ran out (FN then never runs). */
EVAPI_EXPORT int evapi_loop_call(evapi_loop *loop, void (*fn)(void *arg),
				 void *arg);

/* A timer on LOOP; created, started, stopped and freed on LOOP's thread
 * (or in init/fini). FN runs after MS milliseconds, then every MS
 * milliseconds when REPEAT is set, until stopped. */
EVAPI_EXPORT evapi_timer *evapi_timer_new(evapi_loop *loop,
					  void (*fn)(evapi_timer *t, void *arg),
					  void *arg);
EVAPI_EXPORT int evapi_timer_start(evapi_timer *t, unsigned long ms,
				   int repeat);
EVAPI_EXPORT void evapi_timer_stop(evapi_timer *t);
EVAPI_EXPORT void evapi_timer_free(evapi_timer *t);

/* Watch a descriptor (a database socket, say) on LOOP. FN gets the
 * EVAPI_IO_* events that happened. evapi_io_want sets what to wait for
 * (0: nothing), once: after FN runs, call it again to wait more; with
 * EVAPI_IO_PERSIST the wait stays until changed (asking for the same one
 * again then costs nothing). TIMEOUT_MS > 0 reports EVAPI_IO_TIMEOUT
 * after that long without the events. The descriptor stays the
 * plugin's. */
#define EVAPI_IO_READ 0x01
#define EVAPI_IO_WRITE 0x02
#define EVAPI_IO_TIMEOUT 0x04
#define EVAPI_IO_PERSIST 0x08
EVAPI_EXPORT evapi_io *evapi_io_new(evapi_loop *loop, int fd,
				    void (*fn)(evapi_io *io, int events,
					       void *arg),
				    void *arg);
EVAPI_EXPORT int evapi_io_want(evapi_io *io, int events,
			       unsigned long timeout_ms);
EVAPI_EXPORT void evapi_io_free(evapi_io *io);

/* Resolve a host name without blocking the loop (/etc/hosts, then the
 * resolvers of /etc/resolv.conf). CB runs on LOOP with 0 and up to 8
 * numeric addresses, or an error code and evapi_lookup_error()'s text.
 * evapi_lookup_cancel: CB never runs. */
EVAPI_EXPORT evapi_lookup *evapi_resolve(evapi_loop *loop, const char *host,
					 void (*cb)(int err,
						    const char *const *addrs,
						    int naddrs, void *arg),
					 void *arg);
EVAPI_EXPORT void evapi_lookup_cancel(evapi_lookup *lookup);
EVAPI_EXPORT const char *evapi_lookup_error(int err);
/* evapi_lookup errors worth telling apart (others are "failed"). */
#define EVAPI_LOOKUP_NOT_FOUND 1
#define EVAPI_LOOKUP_FAILED 2

#ifdef __cplusplus
}
#endif

#endif /* EVAPI_PLUGIN_H */
