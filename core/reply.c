/*
 * reply.c - JSON replies.
 *
 * Constant bodies are built once (validated with json-c at init) and sent
 * by reference, so the hot path neither allocates nor copies the body.
 * Content-Type comes from evhttp's default content type (set to
 * application/json by the server) and Content-Length from evhttp, except on
 * HEAD, where evhttp adds neither and evapi adds both so that HEAD answers
 * exactly like GET without the body.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <json-c/json.h>

#include "evapi-internal.h"

#define MAX_BODIES 128

static struct evapi_body *bodies[MAX_BODIES];
static size_t nbodies;

struct evapi_body *
evapi_body_new(const char *json)
{
	struct json_tokener *tok = NULL;
	struct json_object *obj = NULL;
	struct evapi_body *b = NULL;
	char *data = NULL;
	size_t len;

	if (json == NULL || nbodies == MAX_BODIES)
		return NULL;
	len = strlen(json);
	/* Validate once here, so a typo in a plugin fails at start. */
	tok = json_tokener_new();
	if (tok == NULL)
		goto out;
	obj = json_tokener_parse_ex(tok, json, (int)len);
	if (obj == NULL || json_tokener_get_error(tok) != json_tokener_success)
		goto out;
	b = calloc(1, sizeof(*b));
	data = malloc(len + 2);
	if (b == NULL || data == NULL) {
		free(b);
		b = NULL;
		goto out;
	}
	memcpy(data, json, len);
	/* One trailing newline: friendlier for curl and shells. */
	if (len == 0 || json[len - 1] != '\n')
		data[len++] = '\n';
	data[len] = '\0';
	b->data = data;
	data = NULL;
	b->len = len;
	snprintf(b->content_length, sizeof(b->content_length), "%zu", len);
	bodies[nbodies++] = b;
out:
	free(data);
	if (obj != NULL)
		json_object_put(obj);
	if (tok != NULL)
		json_tokener_free(tok);
	return b;
}

void
evapi_bodies_free(void)
{
	while (nbodies > 0) {
		struct evapi_body *b = bodies[--nbodies];

		free((char *)b->data);
		free(b);
	}
}

/* evhttp formats the Date header with strftime and snprintf on every
 * response; it changes once a second, so each thread keeps it formatted. */
const char *
evapi_http_date(void)
{
	static __thread char date[40];
	static __thread time_t formatted = -1;
	time_t now = time(NULL);
	struct tm tm;

	if (now != formatted) {
		gmtime_r(&now, &tm);
		strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
		formatted = now;
	}
	return date;
}

static int
is_head(struct evhttp_request *req)
{
	return evhttp_request_get_command(req) == EVHTTP_REQ_HEAD;
}

/* Content-Length comes pre-formatted, and Date from the per-second cache,
 * so evhttp formats neither. HEAD gets them too: evhttp adds no
 * Content-Type or Content-Length to a response without a body, and HEAD
 * must answer like GET. */
static void
send_reply(struct evhttp_request *req, int status, const char *clen)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);

	if (is_head(req))
		evhttp_add_header(h, "Content-Type", "application/json");
	/* 1xx, 204 and 304 carry no body and so no Content-Length. */
	if (status >= 200 && status != 204 && status != 304)
		evhttp_add_header(h, "Content-Length", clen);
	evhttp_add_header(h, "Date", evapi_http_date());
	/* While draining, keep-alive would hold clients on a server that is
	 * about to close: tell them to reconnect elsewhere. */
	if (evapi_server_draining() &&
	    evhttp_find_header(h, "Connection") == NULL)
		evhttp_add_header(h, "Connection", "close");
	evapi_request_answered(req, status);
	evhttp_send_reply(req, status, NULL, NULL);
	/* req may be gone from here on. */
	evapi_flush(evcon);
}

void
evapi_reply_body(struct evhttp_request *req, int status,
		 const struct evapi_body *body)
{
	struct evbuffer *out = evhttp_request_get_output_buffer(req);

	if (body == NULL) {
		evapi_reply_error(req, 500, "plugin replied without a body");
		return;
	}

	if (!is_head(req))
		evbuffer_add_reference(out, body->data, body->len, NULL, NULL);
	send_reply(req, status, body->content_length);
}

static void
reply_copy(struct evhttp_request *req, int status, const char *data,
	   size_t len)
{
	struct evbuffer *out = evhttp_request_get_output_buffer(req);
	char clen[24];

	snprintf(clen, sizeof(clen), "%zu", len);
	if (!is_head(req))
		evbuffer_add(out, data, len);
	send_reply(req, status, clen);
}

void
evapi_reply_json(struct evhttp_request *req, int status,
		 struct json_object *obj)
{
	size_t len = 0;
	const char *s;
	char *buf;

	if (obj == NULL) {
		evapi_reply_error(req, 500, "plugin replied without a body");
		return;
	}
	s = json_object_to_json_string_length(obj, JSON_C_TO_STRING_PLAIN,
					      &len);
	buf = malloc(len + 1);
	if (buf == NULL) {
		evapi_reply_error(req, 500, "out of memory");
		return;
	}
	memcpy(buf, s, len);
	buf[len] = '\n';
	reply_copy(req, status, buf, len + 1);
	free(buf);
}

void
evapi_reply_error(struct evhttp_request *req, int status,
		  const char *message)
{
	struct json_object *o = json_object_new_object();
	const char *s;
	size_t len = 0;
	char buf[512];

	if (message == NULL)
		message = "error";
	if (o == NULL)
		goto fallback;
	json_object_object_add(o, "error", json_object_new_string(message));
	json_object_object_add(o, "status", json_object_new_int(status));
	s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &len);
	if (len + 1 < sizeof(buf)) {
		memcpy(buf, s, len);
		buf[len] = '\n';
		json_object_put(o);
		reply_copy(req, status, buf, len + 1);
		return;
	}
	json_object_put(o);
fallback:
	len = (size_t)snprintf(buf, sizeof(buf),
			       "{\"error\":\"error\",\"status\":%d}\n", status);
	reply_copy(req, status, buf, len);
}
