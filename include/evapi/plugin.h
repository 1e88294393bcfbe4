/*
 * evapi/plugin.h - the evapi plugin contract.
 *
 * This is the one public header a plugin needs. It is self-contained: it
 * includes only the C standard library and forward-declares the few
 * libevent and json-c types it mentions, so a plugin that does not use
 * those libraries directly does not need their headers.
 *
 * A plugin is one C file (or more) that defines one descriptor:
 *
 *     #include <evapi/plugin.h>
 *
 *     static int hello_init(const struct evapi_api *api, evapi_host *host,
 *                           void **state);
 *
 *     EVAPI_PLUGIN(hello) = {
 *         EVAPI_PLUGIN_HEADER,
 *         .name        = "hello",
 *         .version     = "1.0.0",
 *         .description = "GET /hello",
 *         .init        = hello_init,
 *     };
 *
 * The same source builds either as hello.so (the dynamic build dlopens
 * API_PLUGIN_DIR/hello.so and looks up the symbol evapi_plugin_hello) or
 * compiled into the evapi binary (the static build references
 * evapi_plugin_hello from a table generated at build time). No #ifdef is
 * needed in the plugin for either.
 *
 * Versioning
 *   EVAPI_ABI_MAJOR changes when an existing member of struct evapi_plugin
 *   or struct evapi_api changes meaning or place: the host refuses a plugin
 *   built for another major. EVAPI_ABI_MINOR changes when members are
 *   appended: the host refuses a plugin that needs a newer minor than it
 *   has, and accepts older ones. Both structures carry their size, so the
 *   host reads a member a plugin may not have (and a plugin tests for a host
 *   member with EVAPI_API_HAS) before using it.
 *   History: 1.0, the first; 1.1 appended evapi_api.route_answer.
 *
 * Threading contract (evapi may run several event loops, one per thread;
 * see WORKERS in evapi(8))
 *   1. init and fini run once, on the main thread, before any event loop
 *      runs and after every loop has stopped. api->route and
 *      api->body_json may be called from init only.
 *   2. A handler runs on the thread of the event loop that accepted the
 *      connection. It must answer the request exactly once, on that same
 *      thread, with api->reply, api->reply_json or api->reply_error,
 *      either before it returns or later from a callback on that loop
 *      (api->request_base(req) gives the loop; read it in the handler, the
 *      request may lose its connection later). The reply call may write
 *      and free the request before it returns: do not touch REQ after it.
 *   3. Handlers for the same route run concurrently on different loops.
 *      Plugin state shared between requests must be immutable after init,
 *      or protected (a mutex, atomics). libevent's thread support is
 *      enabled by the host, so event_active() and event_base_once() may be
 *      used to hand work to another loop.
 *   4. api->main_base is loop 0, the plugin's home for timers and
 *      background work such as a database connection. It runs on the main
 *      thread.
 *   5. Every api function except route and body_json may be called from any
 *      loop thread.
 *   6. A request still waiting for its answer when the server stops is
 *      answered by the plugin in fini (or freed by the host afterwards);
 *      plugins must not answer requests after fini.
 *
 * Return values: EVAPI_OK (0) or EVAPI_ERR (-1), like Redis modules.
 */
#ifndef EVAPI_PLUGIN_H
#define EVAPI_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EVAPI_PLUGIN_MAGIC 0x45764170u /* "EvAp" */
#define EVAPI_ABI_MAJOR 1
#define EVAPI_ABI_MINOR 1

#define EVAPI_OK 0
#define EVAPI_ERR (-1)

/* Methods a route answers. GET also answers HEAD (same status and headers,
 * no body). Any other method on a known path gets 405 with Allow. */
#define EVAPI_METHOD_GET 0x01u

enum evapi_log_level {
	EVAPI_LOG_DEBUG = 0,
	EVAPI_LOG_INFO = 1,
	EVAPI_LOG_WARN = 2,
	EVAPI_LOG_ERROR = 3
};

struct event_base;
struct evhttp_request;
struct json_object;

/* The host's handle for one plugin; opaque. */
typedef struct evapi_host evapi_host;
/* A reply body built once at init (content type application/json). */
typedef struct evapi_body evapi_body;

typedef void (*evapi_handler_fn)(struct evhttp_request *req, void *arg);
/* A request-free answer (ABI 1.1, see api->route_answer): the body to send
 * and, in *STATUS, its status; or NULL to hand the request to the route's
 * handler. Called on any loop thread, often, and without a request: it
 * must not block, and must return a body made by api->body_json. */
typedef const evapi_body *(*evapi_answer_fn)(void *arg, int *status);

/* A configuration variable a plugin reads, listed by evapi --help. */
struct evapi_var {
	const char *name;          /* e.g. "DATABASE_URL" */
	const char *default_value; /* NULL: no default (required or unset) */
	const char *help;          /* one line */
};

/* What the host offers a plugin. Passed to init; valid until fini returns. */
struct evapi_api {
	uint32_t size; /* sizeof(struct evapi_api) as the host built it */
	uint16_t abi_major;
	uint16_t abi_minor;

	/* -- registration (init only) ------------------------------------ */

	/* Route METHODS on the exact, undecoded PATH to FN. Fails (and the
	 * host names both plugins) when another plugin owns the path. */
	int (*route)(evapi_host *host, unsigned methods, const char *path,
		     evapi_handler_fn fn, void *arg);
	/* A constant body, copied and validated as JSON once; NULL on error.
	 * Owned by the host. */
	evapi_body *(*body_json)(evapi_host *host, const char *json);

	/* -- configuration ----------------------------------------------- */

	/* The environment variable NAME, or NULL when unset or empty. */
	const char *(*env)(evapi_host *host, const char *name);
	/* Parse NAME as a decimal integer in [min, max], DFLT when unset.
	 * On a bad value, reports it (see config_error) and returns EVAPI_ERR. */
	int (*env_uint)(evapi_host *host, const char *name, unsigned long dflt,
			unsigned long min, unsigned long max,
			unsigned long *out);
	/* Report a configuration error the way the host does for its own
	 * variables (one line naming the variable, the value and what is
	 * allowed; evapi then exits 78). VALUE may be NULL (unset); pass it
	 * through api->redact first if it may hold a secret. */
	void (*config_error)(evapi_host *host, const char *name,
			     const char *value, const char *allowed);

	/* -- logging ----------------------------------------------------- */

	/* One JSON log line: MSG, then NULL-terminated key/value string
	 * pairs, e.g. log(h, EVAPI_LOG_WARN, "db down", "reason", r, NULL). */
	void (*log)(evapi_host *host, int level, const char *msg, ...);
	int (*log_enabled)(evapi_host *host, int level);

	/* -- event loops ------------------------------------------------- */

	struct event_base *(*main_base)(evapi_host *host);
	struct event_base *(*request_base)(struct evhttp_request *req);

	/* -- replies (any loop thread; exactly once per request) ------ */

	void (*reply)(struct evhttp_request *req, int status,
		      const evapi_body *body);
	/* Serialises OBJ (borrowed, not freed). */
	void (*reply_json)(struct evhttp_request *req, int status,
			   struct json_object *obj);
	/* {"error":MESSAGE,"status":STATUS} */
	void (*reply_error)(struct evhttp_request *req, int status,
			    const char *message);

	/* -- lifecycle --------------------------------------------------- */

	/* Non-zero once SIGTERM/SIGINT has started the drain. */
	int (*draining)(evapi_host *host);

	/* -- facts and helpers ------------------------------------------- */

	/* Build and run facts: "version", "commit", "build_date",
	 * "environment", "plugins" (comma-separated active plugins),
	 * "libevent", "json-c". NULL for an unknown key. */
	const char *(*fact)(evapi_host *host, const char *key);
	/* Copy a connection string (URI or key=value) to OUT with any
	 * password replaced by "***". Always NUL-terminates. */
	void (*redact)(const char *conninfo, char *out, size_t outlen);

	/* -- ABI 1.1 ------------------------------------------------------- */

	/* Give PATH, a route this plugin registered, a request-free answer
	 * (init only). While FN returns a body, GET and HEAD on PATH are
	 * answered with it without building an evhttp request (the fast
	 * path: see evapi(8)); when it returns NULL, the handler runs. Both
	 * paths send the same bytes. Use it for answers that are constant
	 * or read from a cache. */
	int (*route_answer)(evapi_host *host, const char *path,
			    evapi_answer_fn fn, void *arg);
};

/* Does the host's api table have MEMBER? (for members added in a minor) */
#define EVAPI_API_HAS(api, member)                                             \
	((api)->size >= offsetof(struct evapi_api, member) +                   \
				sizeof((api)->member) &&                       \
	 (api)->member != NULL)

/* The descriptor. Start every descriptor with EVAPI_PLUGIN_HEADER. */
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

	const char *name;        /* must equal the file/symbol name */
	const char *version;     /* the plugin's own version */
	const char *description; /* one line, for --help and logs */
	const struct evapi_var *vars; /* ended by {NULL}; may be NULL */

	/* Register routes, read configuration, start background work.
	 * *STATE is handed back to fini. EVAPI_OK, or EVAPI_ERR after logging
	 * or reporting why (evapi then exits 78). */
	int (*init)(const struct evapi_api *api, evapi_host *host,
		    void **state);
	/* Release everything init made; answer requests still waiting. */
	void (*fini)(void *state);
	/* ABI 1.0 ends here. Later minors append members. */
};

#define EVAPI_PLUGIN_HEADER                                                    \
	.magic = EVAPI_PLUGIN_MAGIC, .abi_major = EVAPI_ABI_MAJOR,             \
	.abi_minor = EVAPI_ABI_MINOR, .size = sizeof(struct evapi_plugin),     \
	.pointer_size = sizeof(void *), .long_size = sizeof(long),             \
	.int_size = sizeof(int),                                               \
	.big_endian = (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__)

#if defined(__GNUC__)
#define EVAPI_EXPORT __attribute__((visibility("default")))
#else
#define EVAPI_EXPORT
#endif

/* Defines the descriptor symbol evapi_plugin_NAME the loader looks for. */
#define EVAPI_PLUGIN(name)                                                     \
	extern EVAPI_EXPORT const struct evapi_plugin evapi_plugin_##name;    \
	EVAPI_EXPORT const struct evapi_plugin evapi_plugin_##name

#ifdef __cplusplus
}
#endif

#endif /* EVAPI_PLUGIN_H */
