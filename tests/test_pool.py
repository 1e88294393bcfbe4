#!/usr/bin/env python3
"""The pg plugin's pool (evapi/pg.h) against a real PostgreSQL the test
starts, through the dbtest fixture plugin (tests/fixtures/dbtest.c):
types as JSON, server errors, the loop API and cancellation, the queue
limit, deadlines with the database stopped under load while /health keeps
answering, recovery without a restart, a client leaving during a slow
query, SIGTERM with queries in flight, pool settings, libpq loaded only
when a plugin needs the database, and no password in any output.
"""

import os
import re
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))

import evapitest as et  # noqa: E402
import pgcluster  # noqa: E402
from fixtures import build, copy_builtins, plugin_dir  # noqa: E402

STATIC = os.environ.get("EVAPI_STATIC") == "yes"
suite = et.Suite("pool")
SERVERS = []

# The fixture plugin needs dlopen: in the static build each case says so
# (the dynamic suite of the same run covers it).
PDIR = None
if not STATIC:
    PDIR = plugin_dir(suite)
    copy_builtins(PDIR)
    build("dbtest.c", os.path.join(PDIR, "dbtest.so"))


pg = pgcluster.shared(suite, et.skip)


def migrate(p):
    r = et.run_evapi(["--migrate"], et.base_env(
        DATABASE_URL=p.url(), API_PLUGINS="dbtest", API_PLUGIN_DIR=PDIR))
    et.eq(r.returncode, 0, r.stderr)


def server(**env):
    if STATIC:
        et.elsewhere("the dbtest fixture plugin needs dlopen: the dynamic "
                     "suite runs it")
    p = pg()
    env.setdefault("DATABASE_URL", p.url())
    env.setdefault("API_PLUGINS", "health,dbtest")
    env.setdefault("API_PLUGIN_DIR", PDIR)
    env.setdefault("WORKERS", 1)
    s = et.Server(suite, **env)
    SERVERS.append(s)
    return s


def active_sleeps(p):
    """Backends of evapi running pg_sleep now."""
    out = p.psql("SELECT count(*) FROM pg_stat_activity WHERE "
                 "application_name = 'evapi' AND state = 'active' "
                 "AND query LIKE '%pg_sleep%'")
    return int(out.strip())


def stats(s):
    return s.get("/db/stats").json()


# --- results -------------------------------------------------------------

@suite.test
def types_as_json():
    """PostgreSQL's types as JSON: integers past 2^53, NaN, numeric, json,
    RFC 3339 UTC times, arrays (quoted, NULL, nested, empty), NULL, UTF-8"""
    with server() as s:
        s.start()
        r = s.get("/db/types")
        et.eq(r.status, 200, r.body)
        v = r.json()
        et.eq(v["i2"], 1)
        et.eq(v["i4"], 2)
        # Parsed from the raw body: 2^53 + 1 must survive exactly.
        et.check(b'"i8":9007199254740993' in r.body, r.body)
        et.eq(v["f8"], 1.5)
        et.eq(v["nan"], "NaN")
        et.eq(v["num"], "12.3400")
        et.eq((v["yes"], v["no"]), (True, False))
        et.eq(v["doc"], {"x": [1, None]})
        et.eq(v["at"], "2026-12-06T08:30:00.5Z")
        et.eq(v["at0"], "2026-12-06T10:30:00Z")
        et.eq(v["never"], "infinity")
        et.eq(v["local"], "2026-12-06T10:30:00")
        et.eq(v["day"], "2026-12-06")
        et.eq(v["texts"], ["a", "b c", None, 'd"e', "{x}", "NULL"])
        et.eq(v["grid"], [[1, 2], [3, 4]])
        et.eq(v["empty"], [])
        et.eq(v["nothing"], None)
        et.eq(v["unicode"], "Zoë ✓")
        et.eq(v["id"], "00000000-0000-0000-0000-000000000001")


@suite.test
def server_errors():
    """A server error: evapi_pg_failed answers 500 and logs the SQLSTATE; a
    plugin can answer one itself (unique violation as 409)"""
    if STATIC:
        et.elsewhere("the dbtest fixture plugin needs dlopen: the dynamic "
                     "suite runs it")
    p = pg()
    migrate(p)
    p.psql("DELETE FROM dbtest_once")
    with server() as s:
        s.start()
        r = s.get("/db/error")
        et.eq(r.status, 500)
        et.eq(r.error_json(), {"error": "internal error", "status": 500})
        et.eq(s.get("/db/unique").status, 204)
        et.eq(s.get("/db/unique").status, 409)
        s.stop()
        logs = [rec for rec in s.log_records() if rec.get("msg") == "pg: query failed"]
        et.check(any(rec.get("sqlstate") == "22012" for rec in logs), logs)


@suite.test
def loop_api_and_cancel():
    """evapi_pg_query with evapi_defer answers; a query cancelled at once
    never calls back (the fixture aborts if it does) and frees its backend"""
    p = pg()
    with server() as s:
        s.start()
        et.eq(s.get("/db/later?s=0.05").json(), {"later": True})
        for _ in range(20):
            et.eq(s.get("/db/cancel?s=0.3").status, 202)
        # Cancelled on the server once they run long enough to be worth it.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and active_sleeps(p) > 0:
            time.sleep(0.1)
        et.eq(active_sleeps(p), 0, "sleeps still running after cancel")
        et.eq(s.get("/db/types").status, 200, "the pool works after cancels")
        et.eq(s.stop(), 0)


# --- limits and failures ---------------------------------------------------

def timed(s, path, out, i):
    t0 = time.monotonic()
    try:
        r = s.get(path, timeout=10)
        out[i] = (time.monotonic() - t0, r.status, r.header("Retry-After"))
    except Exception as e:  # noqa: BLE001
        out[i] = (time.monotonic() - t0, repr(e), None)


@suite.test
def queue_limit():
    """One connection, no pipelining, a queue of 2: of 10 slow queries at
    once, 3 are answered in turn and 7 get 503 + Retry-After at once"""
    with server(DB_POOL_SIZE=1, DB_PIPELINE_DEPTH=1, DB_QUEUE_MAX=2,
                DB_QUERY_TIMEOUT_MS=5000) as s:
        s.start()
        et.eq(s.get("/db/types").status, 200)
        out = [None] * 10
        threads = [threading.Thread(target=timed, args=(s, "/db/sleep?s=0.4", out, i))
                   for i in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(15)
        ok = [o for o in out if o and o[1] == 200]
        busy = [o for o in out if o and o[1] == 503]
        et.eq((len(ok), len(busy)), (3, 7), out)
        et.check(all(o[0] < 0.25 for o in busy), f"503s not at once: {busy}")
        et.check(all(o[2] == "1" for o in busy), f"Retry-After: {busy}")
        et.check(max(o[0] for o in ok) > 1.1, f"the 3 were not in turn: {ok}")
        et.eq(stats(s)["busy_refusals"], 7)


@suite.test
def deadline_and_recovery():
    """Database stopped under load: 503 within DB_QUERY_TIMEOUT_MS plus a
    margin while /health stays fast; back to 200 after a restart, same
    process"""
    p = pg()
    with server(DB_QUERY_TIMEOUT_MS=400, WORKERS=2) as s:
        s.start()
        et.eq(s.get("/db/types").status, 200)
        stop = threading.Event()
        results = []

        def load():
            while not stop.is_set():
                t0 = time.monotonic()
                try:
                    r = s.get("/db/types", timeout=5)
                    results.append((time.monotonic() - t0, r.status))
                except Exception as e:  # noqa: BLE001
                    results.append((time.monotonic() - t0, repr(e)))

        threads = [threading.Thread(target=load) for _ in range(4)]
        for t in threads:
            t.start()
        with et.HealthSampler(s.port) as hs:
            time.sleep(0.3)
            p.stop("immediate")
            time.sleep(1.5)
            hs_worst = hs.check()
        down = [r for r in results[-20:]]
        et.check(all(st == 503 for _, st in down), down)
        et.check(max(dt for dt, _ in results) < 0.4 + 0.3,
                 f"slowest answer {max(dt for dt, _ in results):.3f}s")
        p.start()
        restarted = len(results)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if results[-1][1] == 200:
                break
            time.sleep(0.1)
        time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join(10)
        after = [st for _, st in results[restarted:]]
        tail = after[-20:]
        et.check(tail and all(st == 200 for st in tail),
                 f"not back after the restart: last answers {tail}")
        print(f"# /health worst {hs_worst * 1000:.1f} ms while the database was down")
        et.eq(s.stop(), 0)


@suite.test
def down_at_start():
    """Nothing listening at start: 503 "database unavailable" at once with
    Retry-After; the process serves /health"""
    with server(DATABASE_URL=f"postgresql://u:DownPw9@127.0.0.1:{et.free_port()}/x") as s:
        s.start()
        time.sleep(0.3)
        t0 = time.monotonic()
        r = s.get("/db/types")
        dt = time.monotonic() - t0
        et.eq(r.status, 503)
        et.eq(r.json()["error"], "database unavailable")
        et.check(r.header("Retry-After") is not None, r.headers)
        et.check(dt < 0.1, f"took {dt:.3f}s")
        et.eq(s.get("/health").status, 200)


@suite.test
def client_leaves_during_query():
    """A client that disconnects during a slow query: the statement is
    cancelled on the server (no backend left running it)"""
    p = pg()
    with server(DB_POOL_SIZE=2, DB_QUERY_TIMEOUT_MS=20000) as s:
        s.start()
        # Both connections up: each slow query gets its own.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and stats(s)["open"] < 2:
            time.sleep(0.05)
        socks = []
        for _ in range(2):
            c = socket.create_connection(("127.0.0.1", s.port))
            c.sendall(b"GET /db/sleep?s=30 HTTP/1.1\r\nHost: x\r\n\r\n")
            socks.append(c)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and active_sleeps(p) < 2:
            time.sleep(0.05)
        et.eq(active_sleeps(p), 2, "the slow queries did not start")
        for c in socks:
            c.close()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and active_sleeps(p) > 0:
            time.sleep(0.05)
        et.eq(active_sleeps(p), 0, "a backend still runs the abandoned query")
        et.eq(s.get("/db/types").status, 200)


@suite.test
def query_past_its_deadline():
    """A query past DB_QUERY_TIMEOUT_MS with the database up: 503 with
    Retry-After at the deadline, the statement cancelled on the server, the
    timeout counted, and the same connection serves the next query"""
    p = pg()
    with server(DB_POOL_SIZE=1, DB_QUERY_TIMEOUT_MS=300) as s:
        s.start()
        et.eq(s.get("/db/types").status, 200)
        t0 = time.monotonic()
        r = s.get("/db/sleep?s=30", timeout=10)
        dt = time.monotonic() - t0
        et.eq(r.status, 503, r.body)
        et.check(r.header("Retry-After") is not None, r.headers)
        et.check(0.29 < dt < 0.3 + 0.5, f"503 after {dt:.3f}s")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and active_sleeps(p) > 0:
            time.sleep(0.05)
        et.eq(active_sleeps(p), 0, "a backend still runs the timed-out query")
        et.eq(s.get("/db/types").status, 200)
        st = stats(s)
        et.eq((st["timeouts"], st["open"]), (1, 1), st)


@suite.test
def sigterm_lets_queries_finish():
    """SIGTERM with queries in flight: they finish (200) within
    SHUTDOWN_TIMEOUT, then exit 0"""
    with server(SHUTDOWN_TIMEOUT=5, DB_QUERY_TIMEOUT_MS=5000) as s:
        s.start()
        out = [None] * 4
        threads = [threading.Thread(target=timed, args=(s, "/db/sleep?s=0.8", out, i))
                   for i in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.3)
        s.signal(signal.SIGTERM)
        for t in threads:
            t.join(10)
        et.eq([o[1] for o in out], [200] * 4, out)
        et.eq(s.wait(10), 0)


# --- configuration and loading ---------------------------------------------------

@suite.test
def settings_validated():
    """Pool settings out of range, a bad port, an empty host: exit 78
    naming the variable, no password printed"""
    p = pg()
    cases = [
        dict(DB_POOL_SIZE="0"), dict(DB_QUEUE_MAX="-1"),
        dict(DB_QUERY_TIMEOUT_MS="5"), dict(DB_PIPELINE_DEPTH="0"),
        dict(DATABASE_URL="postgresql://u:SecretPw7@127.0.0.1:70000/db"),
        dict(DATABASE_URL="postgresql://u:SecretPw7@:5432/db"),
        dict(DATABASE_URL="postgresql://u:SecretPw7@db,:5432/db"),
    ]
    for over in cases:
        env = dict(DATABASE_URL=p.url(), API_PLUGINS="items")
        if PDIR:
            env["API_PLUGIN_DIR"] = PDIR
        env.update(over)
        r = et.run_evapi(["--check-config"], et.base_env(**env))
        name = next(iter(over))
        et.eq(r.returncode, 78, f"{over}: {r.stdout} {r.stderr}")
        et.check(name in r.stderr, f"{over}: {r.stderr}")
        et.check("SecretPw7" not in r.stdout + r.stderr, r.stderr)


@suite.test
def libpq_only_when_needed():
    """health alone never maps libpq (nor pg.so); a plugin that needs the
    database brings both"""
    if STATIC:
        et.elsewhere("one binary: the dynamic suite checks what is mapped")
    with et.Server(suite, API_PLUGINS="health,version", API_PLUGIN_DIR=PDIR) as s:
        s.start()
        maps = open(f"/proc/{s.proc.pid}/maps").read()
        et.check("libpq" not in maps and "pg.so" not in maps,
                 "libpq mapped by a server that does not use the database")
    with server() as s:
        s.start()
        maps = open(f"/proc/{s.proc.pid}/maps").read()
        et.check("libpq" in maps and "/pg.so" in maps, "libpq not mapped")


@suite.test
def no_password_anywhere():
    """No server of this suite printed the database password"""
    p = pg()
    for s in SERVERS:
        out = s.stdout() + s.stderr()
        et.check(p.password not in out, "the password appears in evapi's output")
        et.check(not re.search(r"password=[^*\s]", out), "a password= appears")


if __name__ == "__main__":
    suite.run()
