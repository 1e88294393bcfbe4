/*
 * items - an example API on the database: items with a name, a price and
 * tags, stored by the plugin's own migration, served through the pg
 * plugin's pool (evapi/pg.h).
 *
 *   POST   /items         201 + Location + ETag; 400 bad JSON, 422 bad
 *                         fields ({"fields":{"name":"why",...}})
 *   GET    /items         ?limit=1..100 (20) &after=ID: keyset pages,
 *                         {"items":[...],"next":ID|null}
 *   GET    /items/{id}    200 + ETag, 304 for If-None-Match, 404
 *   PUT    /items/{id}    full replacement: 200 + ETag, 404, 422; with
 *                         If-Match, 412 when the item changed since
 *   DELETE /items/{id}    204, 404; If-Match as for PUT
 *
 * Every change is one statement: the If-Match condition is in the UPDATE
 * or DELETE itself, so of concurrent writers with the same tag exactly
 * one wins (the others see the row PostgreSQL re-reads after the first
 * commits, whose version no longer matches).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include <evapi/pg.h>
#include <evapi/plugin.h>

#include "etag.h"
#include "validate.h"

#define COLS "id, name, price_cents, tags, created_at, updated_at, version"
#define LIMIT_DEFAULT 20
#define LIMIT_MAX 100

struct items {
	const evapi_pg_stmt *insert, *get, *list, *put, *del;
	/* items_created_total, items_deleted_total (the metrics plugin
	 * serves them when it is loaded) */
	evapi_series *created, *deleted;
};

static const struct evapi_migration items_migrations[] = {
	{1, "create items",
	 "CREATE TABLE items ("
	 " id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
	 " name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),"
	 " price_cents bigint NOT NULL"
	 "  CHECK (price_cents BETWEEN 0 AND 9007199254740991),"
	 " tags text[] NOT NULL DEFAULT '{}' CHECK (cardinality(tags) <= 20),"
	 " created_at timestamptz NOT NULL DEFAULT now(),"
	 " updated_at timestamptz NOT NULL DEFAULT now(),"
	 " version bigint NOT NULL DEFAULT 1)"},
	EVAPI_MIGRATIONS_END,
};

/* ---- answers ----------------------------------------------------------------
 */

/* Columns 0-5 of ROW as an item. */
static struct json_object *
item_json(const evapi_pg_result *res, int row)
{
	static const char *const names[] = {"id",   "name",	  "price_cents",
					    "tags", "created_at", "updated_at"};
	struct json_object *o = json_object_new_object();
	int i;

	for (i = 0; o != NULL && i < 6; i++)
		json_object_object_add(o, names[i],
				       evapi_pg_value_json(res, row, i));
	return o;
}

static void
set_etag(evapi_request *req, const evapi_pg_result *res, int row)
{
	char tag[64];

	etag_format(tag, sizeof(tag), evapi_pg_text(res, row, 0),
		    evapi_pg_text(res, row, 6));
	evapi_response_header(req, "ETag", tag);
}

static void
respond_item(evapi_request *req, int status, const evapi_pg_result *res)
{
	struct json_object *o = item_json(res, 0);

	set_etag(req, res, 0);
	evapi_respond_json(req, status, o);
	json_object_put(o);
}

static void
respond_invalid(evapi_request *req, const char *why, struct json_object *fields)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "error", json_object_new_string(why));
	json_object_object_add(o, "status", json_object_new_int(422));
	json_object_object_add(o, "fields", fields);
	evapi_respond_json(req, 422, o);
	json_object_put(o);
}

/* The {id} parameter, or NULL after answering 400. */
static const char *
item_id(evapi_request *req)
{
	const char *id = evapi_request_param(req, "id");

	if (!item_id_ok(id, 0)) {
		evapi_respond_error(req, 400,
				    "id must be a positive 64-bit integer");
		return NULL;
	}
	return id;
}

/* The body as an item, or -1 after answering 400, 415 or 422. */
static int
read_item(evapi_request *req, struct item_in *in)
{
	struct json_object *body, *errors;
	const char *why;

	if (evapi_request_json(req, &body) != EVAPI_OK)
		return -1;
	if (item_validate(body, in, &errors, &why) != 0) {
		respond_invalid(req, why, errors);
		return -1;
	}
	return 0;
}

/* If-Match as a bigint[] literal in BUF; NULL when absent or "*". */
static const char *
if_match(evapi_request *req, const char *id, char *buf, size_t len)
{
	const char *h = evapi_request_header(req, "If-Match");

	if (h == NULL || etag_match_versions(h, id, buf, len) == 0)
		return NULL;
	return buf;
}

/* ---- POST /items
 * ---------------------------------------------------------------- */

static void
created(evapi_request *req, const evapi_pg_result *res, void *arg)
{
	struct items *it = arg;
	char location[48];

	if (evapi_pg_failed(req, res))
		return;
	evapi_counter_add(it->created, 1);
	snprintf(location, sizeof(location), "/items/%s",
		 evapi_pg_text(res, 0, 0));
	evapi_response_header(req, "Location", location);
	respond_item(req, 201, res);
}

static void
items_post(evapi_request *req, void *state)
{
	struct items *it = state;
	struct item_in in;
	char price[24];
	const char *params[3];

	if (read_item(req, &in) != 0)
		return;
	snprintf(price, sizeof(price), "%lld", in.price_cents);
	params[0] = in.name;
	params[1] = price;
	params[2] = in.tags;
	evapi_pg_request(req, it->insert, params, 3, 0, created, it);
}

/* ---- GET /items/{id}
 * -------------------------------------------------------------- */

static void
got(evapi_request *req, const evapi_pg_result *res, void *arg)
{
	const char *inm = evapi_request_header(req, "If-None-Match");
	char tag[64];

	(void)arg;
	if (evapi_pg_failed(req, res))
		return;
	if (evapi_pg_nrows(res) == 0) {
		evapi_respond_error(req, 404, "no such item");
		return;
	}
	etag_format(tag, sizeof(tag), evapi_pg_text(res, 0, 0),
		    evapi_pg_text(res, 0, 6));
	if (inm != NULL && etag_none_match(inm, tag)) {
		evapi_response_header(req, "ETag", tag);
		evapi_respond_empty(req, 304);
		return;
	}
	respond_item(req, 200, res);
}

static void
item_get(evapi_request *req, void *state)
{
	struct items *it = state;
	const char *id = item_id(req);

	if (id != NULL)
		evapi_pg_request(req, it->get, &id, 1, EVAPI_PG_RETRY, got, it);
}

/* ---- GET /items
 * --------------------------------------------------------------------- */

static void
listed(evapi_request *req, const evapi_pg_result *res, void *arg)
{
	int limit = (int)(intptr_t)arg, n, i;
	struct json_object *o, *list;

	if (evapi_pg_failed(req, res))
		return;
	n = evapi_pg_nrows(res);
	o = json_object_new_object();
	list = json_object_new_array();
	for (i = 0; i < n && i < limit; i++)
		json_object_array_add(list, item_json(res, i));
	json_object_object_add(o, "items", list);
	/* One row more than the page: there is a next page, after the last
	 * item shown. */
	json_object_object_add(
		o, "next",
		n > limit ? evapi_pg_value_json(res, limit - 1, 0) : NULL);
	evapi_respond_json(req, 200, o);
	json_object_put(o);
}

static void
items_list(evapi_request *req, void *state)
{
	struct items *it = state;
	const char *limit = evapi_request_query(req, "limit");
	const char *after = evapi_request_query(req, "after");
	const char *params[2];
	char fetch[24];
	long n = LIMIT_DEFAULT;

	if (limit != NULL) {
		if (!item_id_ok(limit, 0) || strlen(limit) > 3 ||
		    (n = strtol(limit, NULL, 10)) > LIMIT_MAX) {
			evapi_respond_error(req, 400,
					    "limit must be from 1 to 100");
			return;
		}
	}
	if (after != NULL && !item_id_ok(after, 1)) {
		evapi_respond_error(req, 400,
				    "after must be an item id (or 0)");
		return;
	}
	snprintf(fetch, sizeof(fetch), "%ld", n + 1);
	params[0] = after ? after : "0";
	params[1] = fetch;
	evapi_pg_request(req, it->list, params, 2, EVAPI_PG_RETRY, listed,
			 (void *)(intptr_t)n);
}

/* ---- PUT /items/{id}
 * ------------------------------------------------------------------ */

/* Columns 0-6: the item if it changed (NULL otherwise); 7: found. */
static void
replaced(evapi_request *req, const evapi_pg_result *res, void *arg)
{
	(void)arg;
	if (evapi_pg_failed(req, res))
		return;
	if (!evapi_pg_isnull(res, 0, 0)) {
		respond_item(req, 200, res);
		return;
	}
	if (strcmp(evapi_pg_text(res, 0, 7), "t") == 0)
		evapi_respond_error(req, 412,
				    "the item changed since (If-Match)");
	else
		evapi_respond_error(req, 404, "no such item");
}

static void
item_put(evapi_request *req, void *state)
{
	struct items *it = state;
	const char *id = item_id(req), *params[5];
	struct item_in in;
	char price[24], versions[512];

	if (id == NULL || read_item(req, &in) != 0)
		return;
	snprintf(price, sizeof(price), "%lld", in.price_cents);
	params[0] = id;
	params[1] = in.name;
	params[2] = price;
	params[3] = in.tags;
	params[4] = if_match(req, id, versions, sizeof(versions));
	evapi_pg_request(req, it->put, params, 5, 0, replaced, it);
}

/* ---- DELETE /items/{id}
 * ------------------------------------------------------------------ */

static void
deleted(evapi_request *req, const evapi_pg_result *res, void *arg)
{
	struct items *it = arg;

	if (evapi_pg_failed(req, res))
		return;
	if (strcmp(evapi_pg_text(res, 0, 1), "t") == 0) {
		evapi_counter_add(it->deleted, 1);
		evapi_respond_empty(req, 204);
	} else if (strcmp(evapi_pg_text(res, 0, 0), "t") == 0)
		evapi_respond_error(req, 412,
				    "the item changed since (If-Match)");
	else
		evapi_respond_error(req, 404, "no such item");
}

static void
item_delete(evapi_request *req, void *state)
{
	struct items *it = state;
	const char *id = item_id(req), *params[2];
	char versions[512];

	if (id == NULL)
		return;
	params[0] = id;
	params[1] = if_match(req, id, versions, sizeof(versions));
	evapi_pg_request(req, it->del, params, 2, 0, deleted, it);
}

/* ---- init and fini
 * -------------------------------------------------------------------- */

static int
prepare_all(evapi_ctx *ctx, struct items *it)
{
	it->insert = evapi_pg_prepare(
		ctx, "INSERT INTO items (name, price_cents, tags) "
		     "VALUES ($1, $2::bigint,"
		     " ARRAY(SELECT jsonb_array_elements_text($3::jsonb))) "
		     "RETURNING " COLS);
	it->get = evapi_pg_prepare(ctx, "SELECT " COLS
					" FROM items WHERE id = $1::bigint");
	it->list = evapi_pg_prepare(ctx, "SELECT " COLS " FROM items"
					 " WHERE id > $1::bigint"
					 " ORDER BY id LIMIT $2::int");
	it->put = evapi_pg_prepare(
		ctx,
		"WITH cur AS (SELECT id FROM items WHERE id = $1::bigint),"
		" upd AS (UPDATE items SET name = $2, price_cents = $3::bigint,"
		"  tags = ARRAY(SELECT jsonb_array_elements_text($4::jsonb)),"
		"  version = version + 1, updated_at = now()"
		"  WHERE id = $1::bigint"
		"  AND ($5::bigint[] IS NULL OR version = ANY($5::bigint[]))"
		"  RETURNING " COLS ")"
		" SELECT upd.*, EXISTS (SELECT 1 FROM cur) AS found"
		" FROM (SELECT 1) AS one LEFT JOIN upd ON true");
	it->del = evapi_pg_prepare(
		ctx,
		"WITH cur AS (SELECT id FROM items WHERE id = $1::bigint),"
		" del AS (DELETE FROM items WHERE id = $1::bigint"
		"  AND ($2::bigint[] IS NULL OR version = ANY($2::bigint[]))"
		"  RETURNING id)"
		" SELECT EXISTS (SELECT 1 FROM cur) AS found,"
		" EXISTS (SELECT 1 FROM del) AS deleted");
	return it->insert && it->get && it->list && it->put && it->del
		       ? EVAPI_OK
		       : EVAPI_ERR;
}

static evapi_series *
counter(evapi_ctx *ctx, const char *name, const char *help)
{
	return evapi_series_get(evapi_counter_new(ctx, name, help, NULL), NULL);
}

static int
items_init(evapi_ctx *ctx, void **state)
{
	struct items *it = calloc(1, sizeof(*it));

	if (it == NULL)
		return EVAPI_ERR;
	if (evapi_pg_init(ctx) != EVAPI_OK ||
	    prepare_all(ctx, it) != EVAPI_OK ||
	    (it->created = counter(ctx, "items_created_total",
				   "Items created (POST /items).")) == NULL ||
	    (it->deleted = counter(ctx, "items_deleted_total",
				   "Items deleted (DELETE /items/{id}).")) ==
		    NULL) {
		free(it);
		return EVAPI_ERR;
	}
	*state = it;
	return EVAPI_OK;
}

static void
items_fini(void *state)
{
	free(state);
}

static const char *const items_needs[] = {"pg", NULL};

static const struct evapi_route items_routes[] = {
	{EVAPI_POST, "/items", items_post, 0},
	{EVAPI_GET, "/items", items_list, 0},
	{EVAPI_GET, "/items/{id}", item_get, 0},
	{EVAPI_PUT, "/items/{id}", item_put, 0},
	{EVAPI_DELETE, "/items/{id}", item_delete, 0},
	EVAPI_ROUTES_END,
};

EVAPI_PLUGIN(items) = {
	EVAPI_PLUGIN_HEADER,
	.name = "items",
	.version = "1.0.0",
	.description = "an example API on PostgreSQL: /items (create, read, "
		       "list, replace, delete)",
	.routes = items_routes,
	.needs = items_needs,
	.migrations = items_migrations,
	.init = items_init,
	.fini = items_fini,
};
