#!/usr/bin/env python3
"""The items API (plugins/items) against a real PostgreSQL the test
starts: its whole contract (POST, GET, list with keyset pages, PUT, DELETE,
ETag, If-None-Match, If-Match), every validation rule, SQL-looking and
non-ASCII input stored verbatim, 50 concurrent PUTs with the same If-Match
(exactly one wins), and a database that is down: 503 with Retry-After.
Runs in the dynamic and the static build (items and pg are built in).
"""

import json
import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))

import evapitest as et  # noqa: E402
import pgcluster  # noqa: E402
import promtext  # noqa: E402

suite = et.Suite("items")
SRV = None
RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$")
JSON = {"Content-Type": "application/json"}


def migrate(p):
    r = et.run_evapi(["--migrate"], et.base_env(DATABASE_URL=p.url(), API_PLUGINS="items"))
    et.eq(r.returncode, 0, r.stderr)


pg = pgcluster.shared(suite, et.skip, first_use=migrate)


def srv():
    """One server for the contract cases (WORKERS=2: both loops' pools)."""
    global SRV
    if SRV is None:
        SRV = et.Server(suite, DATABASE_URL=pg().url(),
                        API_PLUGINS="health,items", WORKERS=2)
        SRV.start()
    return SRV


def call(method, path, body=None, headers=None, raw=None):
    h = dict(JSON) if body is not None or raw is not None else {}
    h.update(headers or {})
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
    return srv().get(path, method=method, headers=h, body=data)


def create(name="widget", price=100, tags=None):
    body = {"name": name, "price_cents": price}
    if tags is not None:
        body["tags"] = tags
    r = call("POST", "/items", body)
    et.eq(r.status, 201, r.body)
    return r


def check_item(item):
    et.eq(sorted(item), ["created_at", "id", "name", "price_cents", "tags",
                         "updated_at"])
    et.check(isinstance(item["id"], int) and item["id"] > 0, item)
    for k in ("created_at", "updated_at"):
        et.check(RFC3339_UTC.match(item[k]), f"{k}: {item[k]!r}")


# --- create and read -------------------------------------------------------------

@suite.test
def post_then_get():
    """POST: 201, Location /items/ID, ETag, the item; GET returns it"""
    r = create("chair", 4999, ["wood", "brown"])
    item = r.json()
    check_item(item)
    et.eq((item["name"], item["price_cents"], item["tags"]),
          ("chair", 4999, ["wood", "brown"]))
    et.eq(item["created_at"], item["updated_at"])
    et.eq(r.header("Location"), f"/items/{item['id']}")
    et.check(r.header("Content-Type").startswith("application/json"), r.headers)
    tag = r.header("ETag")
    et.check(re.match(r'^"\d+-1"$', tag or ""), tag)
    g = call("GET", f"/items/{item['id']}")
    et.eq(g.status, 200)
    et.eq(g.json(), item)
    et.eq(g.header("ETag"), tag)
    et.eq(call("HEAD", f"/items/{item['id']}").status, 200)
    d = create("no tags", 0).json()
    et.eq(d["tags"], [])


@suite.test
def verbatim():
    """SQL-looking, quoting and non-ASCII input is stored and returned as sent"""
    for name in ["Robert'); DROP TABLE items;--", "a\"b\\c", "Zoë 🎉 漢字",
                 "' OR '1'='1", "$1 $$ \\x00 %s"]:
        item = create(name, 1, [name[:50]]).json()
        back = call("GET", f"/items/{item['id']}").json()
        et.eq((back["name"], back["tags"]), (name, [name[:50]]))
    et.eq(pg().psql("SELECT count(*) > 0 FROM items").strip(), "t")


@suite.test
def get_errors():
    """GET: 404 when absent; 400 when the id is not a positive 64-bit integer"""
    et.eq(call("GET", "/items/9223372036854775807").status, 404)
    et.eq(call("GET", "/items/9223372036854775807").error_json(),
          {"error": "no such item", "status": 404})
    for bad in ["abc", "0", "-1", "1.5", "9223372036854775808", "1e3", "%20"]:
        r = call("GET", f"/items/{bad}")
        et.eq(r.status, 400, f"{bad}: {r.body}")
        et.eq(r.json()["status"], 400)


@suite.test
def if_none_match():
    """GET with If-None-Match: 304 (with the ETag, no body) when it matches,
    weakly too, and for *; 200 otherwise"""
    r = create("cached", 5)
    path, tag = r.header("Location"), r.header("ETag")
    for inm in [tag, f"W/{tag}", f'"x", {tag}', "*"]:
        c = call("GET", path, headers={"If-None-Match": inm})
        et.eq(c.status, 304, inm)
        et.eq(c.body, b"")
        et.eq(c.header("ETag"), tag)
    et.eq(call("GET", path, headers={"If-None-Match": '"0-0"'}).status, 200)


# --- validation ------------------------------------------------------------------

@suite.test
def malformed_and_wrong_type():
    """Malformed JSON 400 (naming the byte); not JSON 415; invalid UTF-8 400"""
    r = call("POST", "/items", raw=b'{"name": "x",')
    et.eq(r.status, 400)
    et.check("JSON" in r.json()["error"], r.body)
    r = srv().get("/items", method="POST", headers={"Content-Type": "text/plain"},
                  body=b'{"name":"x","price_cents":1}')
    et.eq(r.status, 415)
    r = call("POST", "/items", raw=b'{"name":"\xff\xfe","price_cents":1}')
    et.eq(r.status, 400, r.body)


@suite.test
def invalid_fields_named():
    """Well-formed but invalid: 422 naming every bad field; unknown fields
    too; a body that is not an object"""
    cases = [
        ({}, {"name", "price_cents"}),
        ({"name": "", "price_cents": 1}, {"name"}),
        ({"name": "x" * 201, "price_cents": 1}, {"name"}),
        ({"name": 5, "price_cents": 1}, {"name"}),
        ({"name": "a\u0000b", "price_cents": 1}, {"name"}),
        ({"name": "x", "price_cents": -1}, {"price_cents"}),
        ({"name": "x", "price_cents": 1.5}, {"price_cents"}),
        ({"name": "x", "price_cents": "100"}, {"price_cents"}),
        ({"name": "x", "price_cents": 2 ** 53}, {"price_cents"}),
        ({"name": "x", "price_cents": 2 ** 64}, {"price_cents"}),
        ({"name": "x", "price_cents": 1, "tags": "a"}, {"tags"}),
        ({"name": "x", "price_cents": 1, "tags": ["t"] * 21}, {"tags"}),
        ({"name": "x", "price_cents": 1, "tags": [""]}, {"tags"}),
        ({"name": "x", "price_cents": 1, "tags": ["y" * 51]}, {"tags"}),
        ({"name": "x", "price_cents": 1, "tags": [1]}, {"tags"}),
        ({"name": "x", "price_cents": 1, "id": 7, "colour": "red"}, {"id", "colour"}),
        ({"name": "", "price_cents": None, "extra": 1}, {"name", "price_cents", "extra"}),
    ]
    for body, fields in cases:
        r = call("POST", "/items", body)
        et.eq(r.status, 422, f"{body!r}: {r.body}")
        v = r.json()
        et.eq(v["status"], 422)
        et.eq(set(v["fields"]), fields, f"{body!r}")
        et.check(all(isinstance(w, str) and w for w in v["fields"].values()), v)
    r = call("POST", "/items", raw=b'[1, 2]')
    et.eq(r.status, 422)
    et.eq(r.json()["fields"], {})
    # The limits themselves are fine, in characters, not bytes.
    ok = create("é" * 200, 2 ** 53 - 1, ["ü" * 50] * 20).json()
    et.eq((len(ok["name"]), ok["price_cents"], len(ok["tags"])), (200, 2 ** 53 - 1, 20))


# --- lists -----------------------------------------------------------------------

@suite.test
def keyset_pages():
    """GET /items: id order, limit 1..100 (default 20), next, no item lost or
    repeated when items are deleted between pages"""
    ids = [create(f"page {i}", i).json()["id"] for i in range(25)]
    seen, after, pages = [], 0, 0
    while True:
        r = call("GET", f"/items?limit=7&after={after}")
        et.eq(r.status, 200)
        v = r.json()
        et.eq(sorted(v), ["items", "next"])
        got = [i["id"] for i in v["items"]]
        et.eq(got, sorted(got))
        et.check(len(got) <= 7)
        seen += got
        pages += 1
        if pages == 1:
            # Deleting an item already seen and one ahead moves nothing.
            et.eq(call("DELETE", f"/items/{got[0]}").status, 204)
            et.eq(call("DELETE", f"/items/{ids[-1]}").status, 204)
        if v["next"] is None:
            break
        et.eq(v["next"], got[-1])
        after = v["next"]
    et.eq(len(seen), len(set(seen)), "an item came twice")
    missing = [i for i in ids[:-1] if i not in seen]
    et.eq(missing, [], "items lost between pages")
    et.check(ids[-1] not in seen, "a deleted item came")
    first = call("GET", "/items").json()
    et.eq(len(first["items"]), 20)
    et.eq(len(call("GET", "/items?limit=100").json()["items"]) <= 100, True)
    for q in ["limit=0", "limit=101", "limit=abc", "limit=", "limit=-1",
              "after=-1", "after=x", "after=1.5"]:
        r = call("GET", f"/items?{q}")
        et.eq(r.status, 400, f"{q}: {r.body}")


# --- replace and delete ----------------------------------------------------------

@suite.test
def put_contract():
    """PUT: full replacement, 200 with the new item and a new ETag; 404;
    422; If-Match: matching 200, stale 412, * 200, weak never matches"""
    r = create("old", 1, ["a"])
    path, tag = r.header("Location"), r.header("ETag")
    p = call("PUT", path, {"name": "new", "price_cents": 2})
    et.eq(p.status, 200, p.body)
    v = p.json()
    et.eq((v["name"], v["price_cents"], v["tags"]), ("new", 2, []))
    et.check(v["updated_at"] >= v["created_at"])
    tag2 = p.header("ETag")
    et.check(tag2 != tag and tag2.endswith('-2"'), tag2)
    et.eq(call("PUT", path, {"name": "x", "price_cents": 3},
               headers={"If-Match": tag}).status, 412)
    et.eq(call("PUT", path, {"name": "x", "price_cents": 3},
               headers={"If-Match": f"W/{tag2}"}).status, 412)
    ok = call("PUT", path, {"name": "x", "price_cents": 3},
              headers={"If-Match": f'"nope", {tag2}'})
    et.eq(ok.status, 200)
    et.eq(call("PUT", path, {"name": "y", "price_cents": 4},
               headers={"If-Match": "*"}).status, 200)
    et.eq(call("PUT", "/items/9223372036854775807",
               {"name": "y", "price_cents": 4}).status, 404)
    et.eq(call("PUT", path, {"name": "y"}).status, 422)
    et.eq(call("PUT", "/items/abc", {"name": "y", "price_cents": 1}).status, 400)


@suite.test
def delete_contract():
    """DELETE: 204, then 404; If-Match stale 412 (item kept), matching 204"""
    r = create("doomed", 1)
    path, tag = r.header("Location"), r.header("ETag")
    et.eq(call("PUT", path, {"name": "changed", "price_cents": 1}).status, 200)
    et.eq(call("DELETE", path, headers={"If-Match": tag}).status, 412)
    et.eq(call("GET", path).status, 200)
    tag2 = call("GET", path).header("ETag")
    d = call("DELETE", path, headers={"If-Match": tag2})
    et.eq((d.status, d.body), (204, b""))
    et.eq(call("GET", path).status, 404)
    et.eq(call("DELETE", path).status, 404)
    r = create("plain", 1)
    et.eq(call("DELETE", r.header("Location")).status, 204)


@suite.test
def methods():
    """Methods the routes do not have: 405 with Allow"""
    r = call("PATCH", "/items/1", {"name": "x"})
    et.eq(r.status, 405)
    et.eq(r.header("Allow"), "DELETE, GET, HEAD, OPTIONS, PUT")
    r = call("DELETE", "/items")
    et.eq(r.status, 405)
    et.eq(r.header("Allow"), "GET, HEAD, OPTIONS, POST")


@suite.test
def concurrent_if_match():
    """50 concurrent PUTs with the same If-Match: exactly one 200, 49 412"""
    r = create("contended", 1)
    path, tag = r.header("Location"), r.header("ETag")
    out = [None] * 50

    def put(i):
        out[i] = srv().get(path, method="PUT", timeout=10,
                           headers={"If-Match": tag, **JSON},
                           body=json.dumps({"name": f"w{i}", "price_cents": i}).encode()).status

    threads = [threading.Thread(target=put, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    et.eq((out.count(200), out.count(412)), (1, 49), out)
    et.check(call("GET", path).header("ETag").endswith('-2"'))


# --- the database down ---------------------------------------------------------

@suite.test
def database_down():
    """Database stopped: 503 {"error":"database unavailable"} with
    Retry-After within DB_QUERY_TIMEOUT_MS plus a margin; back after a
    restart without restarting evapi"""
    p = pg()
    with et.Server(suite, DATABASE_URL=p.url(), API_PLUGINS="health,items",
                   DB_QUERY_TIMEOUT_MS=500) as s:
        s.start()
        et.eq(s.get("/items?limit=1").status, 200)
        p.stop("fast")
        try:
            for _ in range(5):
                t0 = time.monotonic()
                r = s.get("/items/1")
                dt = time.monotonic() - t0
                et.eq(r.status, 503)
                et.eq(r.error_json(), {"error": "database unavailable", "status": 503})
                et.check(r.header("Retry-After") is not None, r.headers)
                et.check(dt < 0.5 + 0.3, f"503 after {dt:.3f}s")
                et.eq(s.get("/health").status, 200)
        finally:
            p.start()
        # Every loop back (each request may land on another one), soon
        # after the first: one loop's success ends the others' backoff.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and s.get("/items?limit=1").status != 200:
            time.sleep(0.1)
        time.sleep(0.2)
        et.eq([s.get("/items?limit=1").status for _ in range(10)], [200] * 10)


@suite.test
def metrics():
    """With the metrics plugin: items_created_total and items_deleted_total
    count what the API creates and deletes (not failed attempts), and the
    pool's gauges and counters are there (pg registers them)"""
    with et.Server(suite, DATABASE_URL=pg().url(), API_PLUGINS="items,metrics",
                   WORKERS=2, DB_POOL_SIZE=3) as s:
        s.start()

        def scrape():
            r = s.get("/metrics")
            et.eq(r.status, 200)
            return promtext.parse(r.body.decode())

        before = scrape()
        ids = []
        for i in range(3):
            r = s.get("/items", method="POST", headers=JSON,
                      body=json.dumps({"name": f"m{i}", "price_cents": i}).encode())
            et.eq(r.status, 201, r.body)
            ids.append(r.header("Location"))
        et.eq(s.get("/items", method="POST", headers=JSON, body=b'{"name":""}').status, 422)
        et.eq(s.get(ids[0], method="DELETE").status, 204)
        et.eq(s.get(ids[0], method="DELETE").status, 404)
        # The gauges settle at 0 once nothing is in flight (a connection
        # still preparing its statements counts as busy until it is done).
        deadline = time.monotonic() + 5
        while True:
            after = scrape()
            idle = (promtext.value(after, "evapi_db_pool_busy") == 0
                    and promtext.value(after, "evapi_db_pool_waiters") == 0)
            if idle or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        for name, n in (("items_created_total", 3), ("items_deleted_total", 1)):
            et.eq(after[name].type, "counter")
            et.eq(promtext.value(after, name) - promtext.value(before, name), n, name)
        et.eq(promtext.value(after, "evapi_db_pool_size"), 3)
        et.check(1 <= promtext.value(after, "evapi_db_pool_open") <= 3,
                 promtext.value(after, "evapi_db_pool_open"))
        for name in ("evapi_db_pool_busy", "evapi_db_pool_waiters",
                     "evapi_db_pool_timeouts_total", "evapi_db_pool_refusals_total",
                     "evapi_db_pool_unavailable_total", "evapi_db_query_errors_total"):
            et.eq(promtext.value(after, name), 0, name)
        # Three inserts and two deletes (the 422 never reached the database).
        et.eq(promtext.value(after, "evapi_db_queries_total")
              - promtext.value(before, "evapi_db_queries_total"), 5)


@suite.test
def no_password():
    """No server printed the database password"""
    p = pg()
    for s in [SRV]:
        if s is not None:
            et.check(p.password not in s.stdout() + s.stderr(), "password printed")


if __name__ == "__main__":
    suite.run()
