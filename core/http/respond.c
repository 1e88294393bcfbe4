/*
 * respond.c - how a plugin answers (plugin.h): the checks HTTP asks for,
 * then serve.c writes the response on whatever path the request came by.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "util/chars.h"
#include "dispatch.h"
#include "util/log.h"
#include "request.h"
#include "respond.h"
#include "response.h"
#include "serve.h"
#include "status.h"

#define JSON_TYPE "application/json"

/* A constant body: its bytes, a newline at the end. */
struct evapi_body {
	char *data;
	size_t len;
	struct evapi_body *next;
};
static struct evapi_body *bodies;

const evapi_body *
evapi_body_new(const char *json)
{
	struct json_tokener *tok;
	struct json_object *obj;
	struct evapi_body *b;
	size_t len;
	int ok;

	if (json == NULL)
		return NULL;
	len = strlen(json);
	/* Validated once here, so a typo in a plugin fails at start. */
	tok = json_tokener_new();
	if (tok == NULL)
		return NULL;
	obj = json_tokener_parse_ex(tok, json, (int)len);
	ok = obj != NULL && json_tokener_get_error(tok) == json_tokener_success;
	json_object_put(obj);
	json_tokener_free(tok);
	if (!ok)
		return NULL;
	b = calloc(1, sizeof(*b));
	if (b == NULL || (b->data = malloc(len + 2)) == NULL) {
		free(b);
		return NULL;
	}
	memcpy(b->data, json, len);
	/* One trailing newline: friendlier for curl and shells. */
	if (len == 0 || json[len - 1] != '\n')
		b->data[len++] = '\n';
	b->data[len] = '\0';
	b->len = len;
	b->next = bodies;
	bodies = b;
	return b;
}

void
evapi_bodies_free(void)
{
	while (bodies != NULL) {
		struct evapi_body *next = bodies->next;

		free(bodies->data);
		free(bodies);
		bodies = next;
	}
}

/* A second answer, or an answer to something that is no request. */
static int
answerable(evapi_request *req)
{
	if (req == NULL)
		return 0;
	if (req->flags & EVAPI_RQ_ANSWERED) {
		evapi_core_log(EVAPI_LOG_ERROR, "a request was answered twice; "
			       "the second answer is dropped", NULL);
		return 0;
	}
	return 1;
}

/* Status, HEAD, 204 and 304: then serve.c writes it. */
static void
respond(evapi_request *req, int status, const char *type, const void *body,
	size_t len, int body_static, int nl)
{
	struct evapi_response r;
	char err[EVAPI_ERROR_JSON_MAX];

	if (!answerable(req))
		return;
	if (status < 200 || status > 599) {
		evapi_core_log(EVAPI_LOG_ERROR, "a handler answered with a "
			       "status outside 200-599; sent as 500", NULL);
		status = 500;
		type = JSON_TYPE;
		len = evapi_error_json(err, sizeof(err), 500,
				       "the handler gave an invalid status",
				       req->request_id);
		body = err;
		body_static = nl = 0;
	}
	memset(&r, 0, sizeof(r));
	r.status = status;
	r.body = body;
	r.len = len + (size_t)(nl != 0);
	r.nl = nl;
	r.body_static = body_static;
	r.content_type = type;
	r.send_body = req->msg.head.method_id != EVAPI_HEAD;
	if (evapi_status_bodyless(status)) {
		r.len = 0;
		r.nl = 0;
		r.send_body = 0;
		r.content_type = NULL;
	}
	evapi_serve_respond(req, &r);
}

void
evapi_respond(evapi_request *req, int status, const char *content_type,
	      const void *body, size_t len)
{
	if (body == NULL)
		len = 0;
	respond(req, status, content_type, body, len, 0, 0);
}

void
evapi_respond_json_text(evapi_request *req, int status, const char *json,
			size_t len)
{
	respond(req, status, JSON_TYPE, json, json ? len : 0, 0, 0);
}

void
evapi_respond_json(evapi_request *req, int status, struct json_object *obj)
{
	const char *s;
	size_t len = 0;

	if (obj == NULL) {
		evapi_respond_error(req, 500, "the handler gave no body");
		return;
	}
	s = json_object_to_json_string_length(
		obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
		&len);
	respond(req, status, JSON_TYPE, s, len, 0, 1);
}

void
evapi_respond_body(evapi_request *req, int status, const evapi_body *body)
{
	if (body == NULL) {
		evapi_respond_error(req, 500, "the handler gave no body");
		return;
	}
	respond(req, status, JSON_TYPE, body->data, body->len, 1, 0);
}

void
evapi_respond_error(evapi_request *req, int status, const char *message)
{
	char buf[EVAPI_ERROR_JSON_MAX];
	size_t len;

	if (!answerable(req))
		return;
	len = evapi_error_json(buf, sizeof(buf), status, message,
			       req->request_id);

	respond(req, status, JSON_TYPE, buf, len, 0, 0);
}

void
evapi_respond_empty(evapi_request *req, int status)
{
	respond(req, status, NULL, NULL, 0, 0, 0);
}

/* Headers the host writes itself, and hop-by-hop ones. NAME is LEN
 * bytes: only a name of the same length is compared (a handler that sets
 * a header per request pays one comparison, not nine). */
static int
reserved(const char *name, size_t len)
{
	static const struct {
		const char *name;
		size_t len;
	} names[] = {
#define R(s) {s, sizeof(s) - 1}
		R("content-length"), R("transfer-encoding"), R("connection"),
		R("date"), R("content-type"), R("keep-alive"), R("upgrade"),
		R("trailer"), R("x-request-id"),
#undef R
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].len == len && evapi_streqi(name, names[i].name))
			return 1;
	return 0;
}

int
evapi_response_header(evapi_request *req, const char *name, const char *value)
{
	struct evapi_rheader *h;
	size_t i, nlen, vlen;

	if (req == NULL || name == NULL || value == NULL || name[0] == '\0')
		return EVAPI_ERR;
	for (i = 0; name[i] != '\0'; i++)
		if (!evapi_ch((unsigned char)name[i], EVAPI_CH_TCHAR))
			return EVAPI_ERR;
	nlen = i;
	if (reserved(name, nlen))
		return EVAPI_ERR;
	/* No CR, LF or other control byte can reach the head. */
	for (i = 0; value[i] != '\0'; i++)
		if (!evapi_ch((unsigned char)value[i], EVAPI_CH_FIELD))
			return EVAPI_ERR;
	vlen = i;
	h = evapi_arena_alloc(req, sizeof(*h));
	if (h == NULL)
		return EVAPI_ERR;
	h->name = evapi_arena_strndup(req, name, nlen);
	h->value = evapi_arena_strndup(req, value, vlen);
	if (h->name == NULL || h->value == NULL)
		return EVAPI_ERR;
	h->next = NULL;
	if (req->rheaders_last != NULL)
		req->rheaders_last->next = h;
	else
		req->rheaders = h;
	req->rheaders_last = h;
	return EVAPI_OK;
}

void
evapi_defer(evapi_request *req, void (*on_gone)(evapi_request *req, void *arg),
	    void *arg)
{
	if (req == NULL || (req->flags & EVAPI_RQ_ANSWERED))
		return;
	req->flags |= EVAPI_RQ_DEFERRED;
	req->on_gone = on_gone;
	req->gone_arg = arg;
	evapi_dispatch_deferred(req);
}
