/*
 * request.c - the request object: pool, arena, and the accessors a
 * plugin reads a request with (request.h, plugin.h).
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "util/alloc.h"
#include "util/chars.h"
#include "util/utf8.h"
#include "decode.h"
#include "request.h"

/* Requests a thread keeps for reuse. */
#define POOL_MAX 64
/* Arena blocks past the first: at least this big. */
#define ARENA_BLOCK 4096

static __thread struct evapi_request *pool;
static __thread unsigned pooled;

/* ---- arena --------------------------------------------------------------- */

static void
arena_reset(struct evapi_arena *a)
{
	void *b = a->extra;

	while (b != NULL) {
		void *next = *(void **)b;

		free(b);
		b = next;
	}
	a->extra = NULL;
	a->cur = a->first;
	a->left = sizeof(a->first);
}

void *
evapi_arena_alloc(struct evapi_request *req, size_t n)
{
	struct evapi_arena *a = &req->arena;
	size_t need = (n + 15) & ~(size_t)15;
	void *p;

	if (need < n)
		return NULL;
	if (need > a->left) {
		size_t size = need + 16 > ARENA_BLOCK ? need + 16 : ARENA_BLOCK;
		char *b = malloc(size);

		if (b == NULL)
			return NULL;
		*(void **)b = a->extra;
		a->extra = b;
		a->cur = b + 16;
		a->left = size - 16;
	}
	p = a->cur;
	a->cur += need;
	a->left -= need;
	return p;
}

char *
evapi_arena_strndup(struct evapi_request *req, const char *s, size_t n)
{
	char *d = evapi_arena_alloc(req, n + 1);

	if (d != NULL) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

/* ---- pool ------------------------------------------------------------------ */

static void
clear(struct evapi_request *req)
{
	/* What stays: the head buffer, the field array, the body copy. */
	char *buf = req->msg.buf, *body = req->body_copy;
	size_t cap = req->msg.cap, bcap = req->body_cap;
	struct evapi_head head = req->msg.head;

	unsigned np = req->match.nparams;

	if (req->json != NULL)
		json_object_put(req->json);
	arena_reset(&req->arena);
	/* All but the parameter arrays (a quarter of a kilobyte), of which
	 * only the NP used entries are cleared. */
	memset(req, 0, offsetof(struct evapi_request, match));
	req->match.path = NULL;
	req->match.slot = NULL;
	req->match.nparams = 0;
	memset(req->params, 0, np * sizeof(req->params[0]));
	memset(&req->path, 0,
	       offsetof(struct evapi_request, arena) -
		       offsetof(struct evapi_request, path));
	req->msg.buf = buf;
	req->msg.cap = cap;
	req->msg.head = head;
	evapi_head_reset(&req->msg.head);
	req->body_copy = body;
	req->body_cap = bcap;
}

struct evapi_request *
evapi_request_new(void)
{
	struct evapi_request *req = pool;

	if (req != NULL) {
		pool = req->pool_next;
		pooled--;
		req->pool_next = NULL;
		return req;
	}
	req = calloc(1, sizeof(*req));
	if (req == NULL)
		return NULL;
	arena_reset(&req->arena);
	return req;
}

static void
destroy(struct evapi_request *req)
{
	evapi_free(req->msg.buf);
	evapi_head_free(&req->msg.head);
	free(req->body_copy);
	free(req);
}

void
evapi_request_free(struct evapi_request *req)
{
	if (req == NULL)
		return;
	clear(req);
	if (pooled >= POOL_MAX) {
		destroy(req);
		return;
	}
	req->pool_next = pool;
	pool = req;
	pooled++;
}

void
evapi_request_pool_flush(void)
{
	while (pool != NULL) {
		struct evapi_request *next = pool->pool_next;

		destroy(pool);
		pool = next;
	}
	pooled = 0;
}

struct evapi_msg *
evapi_msg_alloc(void *arg)
{
	struct evapi_request *req = evapi_request_new();

	(void)arg;
	return req ? &req->msg : NULL;
}

void
evapi_msg_release(struct evapi_msg *m, void *arg)
{
	(void)arg;
	evapi_request_free(evapi_request_of(m));
}

/* ---- what the host sets up ------------------------------------------------ */

int
evapi_request_set_body(struct evapi_request *req, const char *data,
		       size_t len, int copy)
{
	if (!copy) {
		req->body = data;
		req->body_len = len;
		return EVAPI_OK;
	}
	if (len + 1 > req->body_cap) {
		char *b = realloc(req->body_copy, len + 1);

		if (b == NULL)
			return EVAPI_ERR;
		req->body_copy = b;
		req->body_cap = len + 1;
	}
	if (len > 0)
		memcpy(req->body_copy, data, len);
	req->body_copy[len] = '\0';
	req->body = req->body_copy;
	req->body_len = len;
	return EVAPI_OK;
}

static int
decode_params(struct evapi_request *req, const char **why)
{
	unsigned i;

	for (i = 0; i < req->match.nparams; i++) {
		const char *raw = req->path + req->match.param[i].off;
		size_t n = req->match.param[i].len;
		char *d = evapi_arena_alloc(req, n + 1);
		long len;

		if (d == NULL) {
			*why = "out of memory";
			return 503;
		}
		len = evapi_pct_decode(raw, n, d, 0);
		if (len < 0) {
			*why = "invalid percent-encoding in the path";
			return 400;
		}
		if (!evapi_utf8_valid(d, (size_t)len)) {
			*why = "a path parameter is not valid UTF-8";
			return 400;
		}
		req->params[i] = d;
	}
	return 0;
}

static int
decode_query(struct evapi_request *req, const char **why)
{
	const struct evapi_head *h = &req->msg.head;
	const char *q = req->msg.buf + h->query_off;
	size_t n = h->query_len, max = evapi_query_count(q, n);
	char *store;
	long np;

	req->query = evapi_arena_alloc(req, max * sizeof(*req->query));
	store = evapi_arena_alloc(req, evapi_query_store_size(q, n));
	if (req->query == NULL || store == NULL) {
		*why = "out of memory";
		return 503;
	}
	np = evapi_query_parse(q, n, store, req->query, max);
	if (np < 0) {
		*why = "invalid percent-encoding in the query string";
		return 400;
	}
	req->nquery = (size_t)np;
	return 0;
}

int
evapi_request_prepare(struct evapi_request *req, const char **why)
{
	int status;

	if ((status = decode_params(req, why)) != 0)
		return status;
	if (req->msg.head.query_off != 0)
		return decode_query(req, why);
	return 0;
}

/* ---- accessors (plugin.h) ----------------------------------------------------- */

const char *
evapi_request_method(const evapi_request *req)
{
	return req->msg.head.method;
}

unsigned
evapi_request_method_id(const evapi_request *req)
{
	return req->msg.head.method_id;
}

const char *
evapi_request_target(const evapi_request *req)
{
	return req->msg.head.target;
}

const char *
evapi_request_path(const evapi_request *req)
{
	return req->path;
}

const char *
evapi_request_decoded_path(evapi_request *req)
{
	size_t n;
	char *d;

	if (req->decoded_path != NULL || req->path == NULL)
		return req->decoded_path;
	n = strlen(req->path);
	d = evapi_arena_alloc(req, n + 1);
	if (d == NULL || evapi_pct_decode(req->path, n, d, 0) < 0)
		return NULL;
	req->decoded_path = d;
	return d;
}

const char *
evapi_request_param(const evapi_request *req, const char *name)
{
	const struct evapi_slot *s = req->match.slot;
	unsigned i;
	size_t n;

	if (s == NULL || name == NULL)
		return NULL;
	n = strlen(name);
	/* The names point into the pattern: "{name}" ends at '}'. */
	for (i = 0; i < s->nparams && i < req->match.nparams; i++)
		if (strncmp(s->params[i], name, n) == 0 &&
		    s->params[i][n] == '}')
			return req->params[i];
	return NULL;
}

const char *
evapi_request_query_at(const evapi_request *req, const char *name, size_t i)
{
	size_t k;

	if (name == NULL)
		return NULL;
	for (k = 0; k < req->nquery; k++)
		if (strcmp(req->query[k].name, name) == 0 && i-- == 0)
			return req->query[k].value;
	return NULL;
}

const char *
evapi_request_query(const evapi_request *req, const char *name)
{
	return evapi_request_query_at(req, name, 0);
}

size_t
evapi_request_query_count(const evapi_request *req, const char *name)
{
	size_t k, n = 0;

	for (k = 0; name != NULL && k < req->nquery; k++)
		n += strcmp(req->query[k].name, name) == 0;
	return n;
}

const char *
evapi_request_header_at(const evapi_request *req, const char *name, size_t i)
{
	if (name == NULL)
		return NULL;
	return evapi_head_field(&req->msg.head, req->msg.buf, name, i);
}

const char *
evapi_request_header(const evapi_request *req, const char *name)
{
	return evapi_request_header_at(req, name, 0);
}

int
evapi_request_header_entry(const evapi_request *req, size_t i,
			   const char **name, const char **value)
{
	const struct evapi_head *h = &req->msg.head;

	if (i >= h->nfields)
		return EVAPI_ERR;
	*name = req->msg.buf + h->fields[i].name_off;
	*value = req->msg.buf + h->fields[i].value_off;
	return EVAPI_OK;
}

void
evapi_request_set_peer(struct evapi_request *req,
		       const struct sockaddr_storage *sa, int salen)
{
	req->flags &= ~EVAPI_RQ_CLIENT;
	req->peerlen = 0;
	if (salen > 0 && (size_t)salen <= sizeof(req->peer)) {
		memcpy(&req->peer, sa, (size_t)salen);
		req->peerlen = (socklen_t)salen;
	}
}

void
evapi_request_fill_client(struct evapi_request *req)
{
	const struct sockaddr *sa = (const struct sockaddr *)&req->peer;

	if (req->flags & EVAPI_RQ_CLIENT)
		return;
	req->flags |= EVAPI_RQ_CLIENT;
	req->client[0] = '\0';
	req->client_port = 0;
	if (req->peerlen == 0)
		return;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		inet_ntop(AF_INET, &in->sin_addr, req->client,
			  sizeof(req->client));
		req->client_port = ntohs(in->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, req->client,
			  sizeof(req->client));
		req->client_port = ntohs(in6->sin6_port);
	}
}

/* The request is the host's: filling its cache is not a change a plugin
 * can see, so the accessors take it const like every other one. */
const char *
evapi_request_client(const evapi_request *req)
{
	evapi_request_fill_client((evapi_request *)req);
	return req->client;
}

unsigned
evapi_request_client_port(const evapi_request *req)
{
	evapi_request_fill_client((evapi_request *)req);
	return req->client_port;
}

const void *
evapi_request_body(const evapi_request *req, size_t *len)
{
	if (len != NULL)
		*len = req->body_len;
	return req->body != NULL ? req->body : "";
}

evapi_loop *
evapi_request_loop(const evapi_request *req)
{
	return req->loop;
}

const char *
evapi_request_id(const evapi_request *req)
{
	return req != NULL && req->request_id != NULL ? req->request_id : "";
}

int
evapi_request_gone(const evapi_request *req)
{
	return (req->flags & EVAPI_RQ_GONE) != 0;
}

/* ---- the body as JSON -------------------------------------------------------- */

/* application/json, or any type with the +json suffix (RFC 6839), with or
 * without parameters. */
static int
is_json_type(const char *ct)
{
	size_t n = strcspn(ct, ";"), slash, i;

	while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
		n--;
	if (evapi_ieq(ct, n, "application/json"))
		return 1;
	slash = strcspn(ct, "/");
	if (slash >= n || n < 5)
		return 0;
	for (i = 0; i < n; i++)
		if (ct[i] == ' ')
			return 0;
	return evapi_ieq(ct + n - 5, 5, "+json");
}

int
evapi_request_json(evapi_request *req, struct json_object **out)
{
	const char *ct = evapi_request_header(req, "Content-Type");
	struct json_tokener *tok;
	struct json_object *obj;
	enum json_tokener_error err;
	char msg[160];
	size_t end;

	*out = NULL;
	if (req->json != NULL) {
		*out = req->json;
		return EVAPI_OK;
	}
	if (ct == NULL || !is_json_type(ct)) {
		evapi_respond_error(req, 415, "Content-Type must be "
					      "application/json");
		return EVAPI_ERR;
	}
	if (req->body_len == 0) {
		evapi_respond_error(req, 400, "invalid JSON: the body is empty");
		return EVAPI_ERR;
	}
	tok = json_tokener_new();
	if (tok == NULL) {
		evapi_respond_error(req, 503, "out of memory");
		return EVAPI_ERR;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
					       JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, req->body, (int)req->body_len);
	err = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	/* Only whitespace may follow the value. */
	while (obj != NULL && end < req->body_len &&
	       strchr(" \t\r\n", req->body[end]) != NULL)
		end++;
	if (obj == NULL || err != json_tokener_success ||
	    end != req->body_len) {
		if (obj != NULL && err == json_tokener_success)
			snprintf(msg, sizeof(msg),
				 "invalid JSON at byte %zu: data after the "
				 "value", end);
		else if (err == json_tokener_continue)
			snprintf(msg, sizeof(msg),
				 "invalid JSON at byte %zu: unexpected end",
				 req->body_len);
		else
			snprintf(msg, sizeof(msg), "invalid JSON at byte %zu: %s",
				 end, json_tokener_error_desc(err));
		json_object_put(obj);
		json_tokener_free(tok);
		evapi_respond_error(req, 400, msg);
		return EVAPI_ERR;
	}
	json_tokener_free(tok);
	req->json = obj;
	*out = obj;
	return EVAPI_OK;
}
