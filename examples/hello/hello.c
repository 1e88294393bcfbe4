/*
 * hello - an evapi plugin to copy: path parameters, query parameters, a
 * JSON body, a deferred answer on a timer, and state shared by every
 * worker.
 *
 *   GET    /hello/{name}   {"message":"Hello, NAME"}; ?lang=fr|de
 *   GET    /hello/stats    how many sleeps completed and were cancelled
 *   POST   /echo           a JSON body back, with its size
 *   GET    /sleep?ms=N     answered N ms later, from a timer
 *   PUT    /kv/{key}       store the body (up to 1 KiB) and its type
 *   GET    /kv/{key}       ... read it back
 *   DELETE /kv/{key}       ... forget it
 *
 * Build it against an installed evapi with the Makefile next to this file
 * (pkg-config evapi), or into a static evapi with
 * ./configure --enable-static-binary --with-plugins=examples/hello.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include <evapi/plugin.h>

#define KV_VALUE_MAX 1024  /* bytes stored per key */
#define KV_KEYS_MAX 10000  /* keys stored at most */
#define KV_BUCKETS 1024

/* ---- greetings ------------------------------------------------------------ */

static const struct {
	const char *lang, *greeting;
} greetings[] = {
	{"en", "Hello"},
	{"fr", "Bonjour"},
	{"de", "Hallo"},
};

static void
hello_get(evapi_request *req, void *state)
{
	const char *name = evapi_request_param(req, "name");
	const char *lang = evapi_request_query(req, "lang");
	json_object *o;
	char msg[1200];
	size_t i;

	(void)state;
	if (lang == NULL)
		lang = "en";
	for (i = 0; i < sizeof(greetings) / sizeof(greetings[0]); i++)
		if (strcmp(greetings[i].lang, lang) == 0)
			break;
	if (i == sizeof(greetings) / sizeof(greetings[0])) {
		evapi_respond_error(req, 400, "lang must be en, fr or de");
		return;
	}
	/* NAME is decoded UTF-8 (the host checked it); json-c escapes it. */
	snprintf(msg, sizeof(msg), "%s, %s", greetings[i].greeting, name);
	o = json_object_new_object();
	json_object_object_add(o, "message", json_object_new_string(msg));
	evapi_response_header(req, "Content-Language", greetings[i].lang);
	evapi_respond_json(req, 200, o);
	json_object_put(o);
}

/* ---- sleeping on a timer ------------------------------------------------------ */

struct hello {
	evapi_ctx *ctx;
	long long max_sleep_ms;
	atomic_ulong sleeps_completed, sleeps_cancelled;
	pthread_mutex_t kv_lock;
	struct kv *kv[KV_BUCKETS];
	size_t kv_keys;
};

/* One request asleep. */
struct sleeper {
	struct hello *h;
	evapi_request *req;
	evapi_timer *timer;
	long long ms;
};

static void
sleeper_wake(evapi_timer *t, void *arg)
{
	struct sleeper *s = arg;
	json_object *o = json_object_new_object();

	(void)t;
	json_object_object_add(o, "slept_ms", json_object_new_int64(s->ms));
	evapi_respond_json(s->req, 200, o);
	json_object_put(o);
	atomic_fetch_add(&s->h->sleeps_completed, 1);
	evapi_timer_free(s->timer);
	free(s);
}

/* The client left while the request slept: no need to wake it. */
static void
sleeper_gone(evapi_request *req, void *arg)
{
	struct sleeper *s = arg;

	atomic_fetch_add(&s->h->sleeps_cancelled, 1);
	evapi_timer_free(s->timer);
	free(s);
	/* Every request is answered once; this answer is dropped. */
	evapi_respond_empty(req, 204);
}

static int
parse_ms(const char *v, long long max, long long *out)
{
	char *end;
	long long n;

	if (v == NULL || *v < '0' || *v > '9')
		return -1;
	n = strtoll(v, &end, 10);
	if (*end != '\0' || n < 0 || n > max)
		return -1;
	*out = n;
	return 0;
}

static void
sleep_get(evapi_request *req, void *state)
{
	struct hello *h = state;
	struct sleeper *s;
	long long ms;
	char why[96];

	if (parse_ms(evapi_request_query(req, "ms"), h->max_sleep_ms, &ms)) {
		snprintf(why, sizeof(why), "ms must be a whole number from 0 "
			 "to %lld", h->max_sleep_ms);
		evapi_respond_error(req, 400, why);
		return;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		evapi_respond_error(req, 503, "out of memory");
		return;
	}
	s->h = h;
	s->req = req;
	s->ms = ms;
	/* The timer runs on the request's own loop: the answer comes from
	 * there, while the loop goes on serving other requests. */
	s->timer = evapi_timer_new(evapi_request_loop(req), sleeper_wake, s);
	if (s->timer == NULL ||
	    evapi_timer_start(s->timer, (unsigned long)ms, 0) != EVAPI_OK) {
		evapi_timer_free(s->timer);
		free(s);
		evapi_respond_error(req, 503, "cannot start a timer");
		return;
	}
	evapi_defer(req, sleeper_gone, s);
}

static void
stats_get(evapi_request *req, void *state)
{
	struct hello *h = state;
	json_object *o = json_object_new_object();

	json_object_object_add(o, "sleeps_completed",
			       json_object_new_int64((int64_t)atomic_load(
				       &h->sleeps_completed)));
	json_object_object_add(o, "sleeps_cancelled",
			       json_object_new_int64((int64_t)atomic_load(
				       &h->sleeps_cancelled)));
	evapi_respond_json(req, 200, o);
	json_object_put(o);
}

/* ---- echo ------------------------------------------------------------------------ */

static void
echo_post(evapi_request *req, void *state)
{
	json_object *body, *o;
	size_t len;

	(void)state;
	/* 415 or 400 (naming where the JSON is wrong) are answered by the
	 * host; 413 never reaches a handler. */
	if (evapi_request_json(req, &body) != EVAPI_OK)
		return;
	evapi_request_body(req, &len);
	o = json_object_new_object();
	json_object_object_add(o, "echo", json_object_get(body));
	json_object_object_add(o, "bytes", json_object_new_int64((int64_t)len));
	evapi_respond_json(req, 200, o);
	json_object_put(o);
}

/* ---- a store shared by every worker --------------------------------------------- */

struct kv {
	char *key, *type;
	void *value;
	size_t len;
	struct kv *next;
};

static unsigned
kv_hash(const char *key)
{
	unsigned h = 2166136261u;

	for (; *key; key++)
		h = (h ^ (unsigned char)*key) * 16777619u;
	return h % KV_BUCKETS;
}

static struct kv **
kv_slot(struct hello *h, const char *key)
{
	struct kv **p = &h->kv[kv_hash(key)];

	while (*p != NULL && strcmp((*p)->key, key) != 0)
		p = &(*p)->next;
	return p;
}

static void
kv_free(struct kv *e)
{
	free(e->key);
	free(e->type);
	free(e->value);
	free(e);
}

/* "/kv/" and KEY percent-encoded, for Location. */
static void
kv_location(const char *key, char *out, size_t outlen)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = (size_t)snprintf(out, outlen, "/kv/");

	for (; *key != '\0' && o + 4 < outlen; key++) {
		unsigned char c = (unsigned char)*key;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("-._~", c) != NULL) {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
}

static struct kv *
kv_new(const char *key, const char *type, const void *value, size_t len)
{
	struct kv *e = calloc(1, sizeof(*e));

	if (e == NULL)
		return NULL;
	e->key = strdup(key);
	e->type = strdup(type);
	e->value = malloc(len ? len : 1);
	if (!e->key || !e->type || !e->value) {
		kv_free(e);
		return NULL;
	}
	memcpy(e->value, value, len);
	e->len = len;
	return e;
}

static void
kv_put(evapi_request *req, struct hello *h, const char *key)
{
	const char *type = evapi_request_header(req, "Content-Type");
	struct kv *e, **slot;
	const void *value;
	char location[1024];
	size_t len;
	int created;

	value = evapi_request_body(req, &len);
	if (len > KV_VALUE_MAX) {
		evapi_respond_error(req, 413, "a value is at most 1 KiB");
		return;
	}
	e = kv_new(key, type ? type : "application/octet-stream", value, len);
	if (e == NULL) {
		evapi_respond_error(req, 503, "out of memory");
		return;
	}
	pthread_mutex_lock(&h->kv_lock);
	slot = kv_slot(h, key);
	created = *slot == NULL;
	if (created && h->kv_keys >= KV_KEYS_MAX) {
		pthread_mutex_unlock(&h->kv_lock);
		kv_free(e);
		evapi_respond_error(req, 507, "the store is full");
		return;
	}
	if (!created) {
		e->next = (*slot)->next;
		kv_free(*slot);
	} else {
		h->kv_keys++;
	}
	*slot = e;
	pthread_mutex_unlock(&h->kv_lock);
	if (!created) {
		evapi_respond_empty(req, 204);
		return;
	}
	kv_location(key, location, sizeof(location));
	evapi_response_header(req, "Location", location);
	evapi_respond_empty(req, 201);
}

static void
kv_get(evapi_request *req, struct hello *h, const char *key)
{
	char type[256], value[KV_VALUE_MAX];
	struct kv *e;
	size_t len = 0;

	pthread_mutex_lock(&h->kv_lock);
	e = *kv_slot(h, key);
	if (e != NULL) {
		snprintf(type, sizeof(type), "%s", e->type);
		memcpy(value, e->value, e->len);
		len = e->len;
	}
	pthread_mutex_unlock(&h->kv_lock);
	if (e == NULL) {
		evapi_respond_error(req, 404, "no such key");
		return;
	}
	evapi_respond(req, 200, type, value, len);
}

static void
kv_delete(evapi_request *req, struct hello *h, const char *key)
{
	struct kv **slot, *e;

	pthread_mutex_lock(&h->kv_lock);
	slot = kv_slot(h, key);
	e = *slot;
	if (e != NULL) {
		*slot = e->next;
		h->kv_keys--;
	}
	pthread_mutex_unlock(&h->kv_lock);
	if (e == NULL) {
		evapi_respond_error(req, 404, "no such key");
		return;
	}
	kv_free(e);
	evapi_respond_empty(req, 204);
}

static void
kv_handler(evapi_request *req, void *state)
{
	const char *key = evapi_request_param(req, "key");

	switch (evapi_request_method_id(req)) {
	case EVAPI_PUT:
		kv_put(req, state, key);
		break;
	case EVAPI_DELETE:
		kv_delete(req, state, key);
		break;
	default: /* GET and HEAD */
		kv_get(req, state, key);
		break;
	}
}

/* ---- the plugin --------------------------------------------------------------------- */

static int
hello_init(evapi_ctx *ctx, void **state)
{
	struct hello *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return EVAPI_ERR;
	h->ctx = ctx;
	h->max_sleep_ms = evapi_setting_int(ctx, "HELLO_MAX_SLEEP_MS");
	pthread_mutex_init(&h->kv_lock, NULL);
	*state = h;
	return EVAPI_OK;
}

static void
hello_fini(void *state)
{
	struct hello *h = state;
	size_t i;

	for (i = 0; i < KV_BUCKETS; i++)
		while (h->kv[i] != NULL) {
			struct kv *e = h->kv[i];

			h->kv[i] = e->next;
			kv_free(e);
		}
	pthread_mutex_destroy(&h->kv_lock);
	free(h);
}

static const struct evapi_route hello_routes[] = {
	{EVAPI_GET, "/hello/{name}", hello_get, 0},
	{EVAPI_GET, "/hello/stats", stats_get, 0},
	{EVAPI_POST, "/echo", echo_post, 0},
	{EVAPI_GET, "/sleep", sleep_get, 0},
	{EVAPI_GET | EVAPI_PUT | EVAPI_DELETE, "/kv/{key}", kv_handler, 0},
	EVAPI_ROUTES_END,
};

static const struct evapi_setting hello_settings[] = {
	{"HELLO_MAX_SLEEP_MS", EVAPI_SETTING_INT, "5000", 1, 60000, NULL,
	 "longest GET /sleep?ms=N the hello plugin accepts", 0},
	EVAPI_SETTINGS_END,
};

EVAPI_PLUGIN(hello) = {
	EVAPI_PLUGIN_HEADER,
	.name = "hello",
	.version = "1.0.0",
	.description = "greetings, echo, sleep and a small store: an example",
	.routes = hello_routes,
	.settings = hello_settings,
	.init = hello_init,
	.fini = hello_fini,
};
