#!/usr/bin/env python3
"""The metrics contract (plugin.h 2.1) from a plugin's side: a real .so
(tests/fixtures/metered.c) through the real loader registers counters,
gauges, callback gauges and histograms with labels, counts from every
loop and from a thread of its own, reads the core's counters (stub_status);
registration mistakes stop the server with a line naming the plugin; the
ready plugin's gauges."""

import json
import os
import re
import socket
import threading
import time

from evapitest import (Suite, Server, check, eq, free_port, http, raw_exchange,
                       parse_response, run_evapi, base_env, port_is_listening,
                       skip)
from fixtures import build, copy_builtins, plugin_dir
import promtext

STATIC = os.environ.get("EVAPI_STATIC") == "yes"
# The static build has no loader: the fixture cannot load there.
suite = Suite("metrics-api", required=not STATIC)
if STATIC:
    suite.skip_all("the static build loads no plugin from a file")

PDIR = plugin_dir(suite)
copy_builtins(PDIR)
build("metered.c", os.path.join(PDIR, "metered.so"), libs=["-lpthread"])


def server(**env):
    env.setdefault("API_PLUGINS", "health,metrics,metered")
    env.setdefault("LOG_LEVEL", "info")
    return Server(suite, API_PLUGIN_DIR=PDIR, **env).start(path="/metrics")


def scrape(port):
    r = http(port, "/metrics", timeout=5)
    eq(r.status, 200)
    return promtext.parse(r.body)


def hammer(port, path, n, conns=4):
    """N GETs of PATH over CONNS kept-alive connections at once."""
    def one(k):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        req = f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
        s.sendall(req * k)
        got = 0
        data = b""
        while got < k:
            b = s.recv(65536)
            if not b:
                break
            data += b
            got = data.count(b"HTTP/1.1 ")
        s.close()
        return got
    results = []
    threads = [threading.Thread(target=lambda: results.append(one(n // conns)))
               for _ in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return sum(results)


@suite.test
def plugin_metrics_exposed():
    """A plugin's counter, gauge, callback gauges and histogram appear with
    their HELP (escaped) and TYPE, after the core's and the metrics
    plugin's, and count what the plugin counted"""
    s = server()
    for _ in range(3):
        eq(http(s.port, "/things", method="POST").status, 201)
    eq(http(s.port, "/things/a", method="DELETE").status, 204)
    for v in (50, 500, 5000, 50000, 1000):
        eq(s.get(f"/observe?v={v}").status, 204)
    fams = scrape(s.port)
    names = list(fams)
    check(names.index("fixture_things_served_total") >
          names.index("process_threads") > names.index("http_requests_total"),
          names)
    eq(promtext.value(fams, "fixture_things_created_total"), 3)
    eq(promtext.value(fams, "fixture_things_deleted_total"), 1)
    eq(promtext.value(fams, "fixture_things"), 2, "a gauge added to")
    eq(fams["fixture_size_bytes"].help, "Sizes observed.\nSecond line \\ here.")
    b = {l["le"]: v for _, l, v in promtext.samples(
        fams, "fixture_size_bytes_bucket", route="/observe")}
    eq(b, {"100": 1, "1000": 3, "10000": 4, "+Inf": 5}, "le is inclusive")
    eq(promtext.value(fams, "fixture_size_bytes_sum", route="/observe"), 56550)
    eq(promtext.value(fams, "fixture_callback_value", source="fixed"), 42.5)
    eq(promtext.value(fams, "fixture_callback_value", source="atomic"), 7)
    eq(fams["fixture_callback_value"].type, "gauge")


@suite.test
def label_values_escaped_and_read_back():
    """A label value with a quote, a backslash and a newline is escaped in
    the output and reads back as it was given"""
    s = server()
    fams = scrape(s.port)
    eq(promtext.value(fams, "fixture_things_served_total",
                      kind='q"b\\s\nl'), 3)
    body = http(s.port, "/metrics").body
    check(b'kind="q\\"b\\\\s\\nl"' in body, "escaped on the wire")


@suite.test
def counted_from_every_loop_and_a_thread():
    """Updates from four workers' loops and from a plugin thread at the
    same time (the shared cell) are all counted: none lost"""
    s = server(WORKERS=4)
    n = hammer(s.port, "/bump", 4000, conns=8)
    eq(n, 4000, "answers")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        fams = scrape(s.port)
        if promtext.value(fams, "fixture_thread_done") == 1:
            break
        time.sleep(0.1)
    eq(promtext.value(fams, "fixture_thread_done"), 1, "the thread finished")
    eq(promtext.value(fams, "fixture_bumps_total"), 4000 + 20000)


@suite.test
def route_label_is_the_pattern():
    """Requests to /things/1 ... /things/50 count under "/things/{id}"; a
    DELETE under its own pattern "/things/{thing}"; 405 under the path's"""
    s = server()
    for i in range(50):
        eq(s.get(f"/things/{i}").status, 200)
    http(s.port, "/things/x", method="DELETE")
    http(s.port, "/things/x", method="PUT")
    fams = scrape(s.port)
    v = lambda **l: promtext.value(fams, "http_requests_total", **l)  # noqa: E731
    eq(v(route="/things/{id}", method="GET", code="200"), 50)
    eq(v(route="/things/{thing}", method="DELETE", code="204"), 1)
    eq(v(route="/things/{id}", method="PUT", code="405"), 1)
    routes = {l["route"] for _, l, _ in fams["http_requests_total"].samples}
    check(not any(re.match(r"/things/\d", r) for r in routes), routes)


@suite.test
def series_capped_at_1000():
    """A plugin making series from request data gets 1000 and no more: the
    rest are refused (logged once), the server keeps counting"""
    s = server()
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=10)
    reqs = b"".join(f"GET /things/x?kind=k{i} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
                    for i in range(1100))
    sock.sendall(reqs)
    data = b""
    while data.count(b"HTTP/1.1 200") < 1100:
        b = sock.recv(65536)
        if not b:
            break
        data += b
    sock.close()
    fams = scrape(s.port)
    eq(len(fams["fixture_things_served_total"].samples), 1000)
    warns = [r for r in s.log_records() if r["msg"] == "metric series refused"]
    eq(len(warns), 1, "logged once")
    eq(warns[0]["metric"], "fixture_things_served_total")


@suite.test
def in_flight_counts_deferred_requests():
    """A request a handler holds counts in http_requests_in_flight (with the
    scrape itself) until answered; the duration histogram then holds it in
    the bucket of its time"""
    s = server()
    held = threading.Thread(target=lambda: s.get("/slow?ms=600"))
    held.start()
    deadline = time.monotonic() + 0.5  # until the held one has arrived
    while True:
        fams = scrape(s.port)
        n = promtext.value(fams, "http_requests_in_flight")
        if n == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    eq(n, 2, "the held request and the scrape")
    held.join(5)
    fams = scrape(s.port)
    eq(promtext.value(fams, "http_requests_in_flight"), 1)
    b = {l["le"]: v for _, l, v in promtext.samples(
        fams, "http_request_duration_seconds_bucket", route="/slow")}
    eq((b["0.5"], b["0.75"]), (0, 1), "600 ms lands in (0.5, 0.75]")


@suite.test
def stub_status_reads_the_core():
    """evapi_stats_read gives a plugin the core's counters (nginx's
    stub_status): they agree with what was done and with /metrics"""
    s = server(WORKERS=2)
    for _ in range(10):
        s.get("/health")
    raw_exchange(s.port, b"GET /health HTTP/1.1\nHost: x\r\n\r\n")  # refused
    # The server sees the clients' closes a moment later, on either loop.
    deadline = time.monotonic() + 3
    while True:
        st = s.get("/stats").json()
        if st["connections_open"] == 1 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    eq(st["requests_refused"], 1)
    eq(st["requests_in_flight"], 1, "itself")
    eq(st["connections_open"], 1, "only its own")
    eq(st["connections_accepted"], st["connections_closed"] + 1)
    # One request per connection (the start's scrape, ten /health, each
    # /stats), but the refused one's and this one's, still in flight.
    eq(st["requests"], st["connections_accepted"] - 2)
    check(st["requests"] >= 11, st)
    fams = scrape(s.port)
    eq(promtext.value(fams, "evapi_requests_refused_total",
                      reason="bad_request"), st["requests_refused"])


@suite.test
def registration_mistakes_stop_the_server():
    """Each bad metric stops the start with exit 78 and a line naming the
    plugin and the rule, before anything binds"""
    cases = {
        "no_total": "a counter's name ends in _total",
        "gauge_total": "only a counter's name ends in _total",
        "bad_name": "a metric name is [a-zA-Z_:][a-zA-Z0-9_:]*",
        "core_name": "metric http_requests_total is already registered by evapi",
        "twice": 'metric fixture_things is already registered by plugin "metered"',
        "le": "le is the histogram's own label",
        "label_twice": "a label name appears twice",
        "bad_label": "a label name is [a-zA-Z_][a-zA-Z0-9_]*",
        "bounds": "bucket bounds increase",
        "no_help": "a metric needs a help line",
        "suffix": "_bucket, _count and _sum end the series of histograms",
    }
    for case, why in cases.items():
        port = free_port()
        r = run_evapi([], base_env(PORT=port, API_PLUGINS="metrics,metered",
                                   API_PLUGIN_DIR=PDIR, METERED_CASE=case))
        eq(r.returncode, 78, f"{case}: {r.stderr}")
        check('plugin "metered"' in r.stderr and why in r.stderr,
              f"{case}: {r.stderr!r}")
        check(not port_is_listening(port), f"{case}: nothing bound")


@suite.test
def registration_is_for_init():
    """Registering after init (in a handler) is refused and reported"""
    s = server()
    eq(s.get("/late").json(), {"registered": False})
    check("evapi_counter_new is for init only" in s.stderr(), s.stderr())


@suite.test
def registered_without_the_metrics_plugin():
    """A plugin registers its metrics whether or not metrics is loaded (and
    loaded before or after it): the server starts and counts either way"""
    for plugins in ("health,metered", "metered,metrics,health"):
        s = Server(suite, API_PLUGIN_DIR=PDIR, API_PLUGINS=plugins,
                   LOG_LEVEL="info").start()
        eq(http(s.port, "/things", method="POST").status, 201)
        if "metrics" in plugins:
            eq(promtext.value(scrape(s.port), "fixture_things_created_total"), 1)
        else:
            eq(s.get("/metrics").status, 404)
        s.stop()


# ---- the ready plugin's metrics ------------------------------------------------------

@suite.test
def ready_check_gauges_when_the_database_is_down():
    """ready registers its gauges: the last check failed (0), its duration,
    and the checks by result"""
    dead = free_port()
    s = server(API_PLUGINS="health,ready,metrics",
               DATABASE_URL=f"postgresql://u:p@127.0.0.1:{dead}/db",
               READY_CACHE_MS=0)
    eq(s.get("/ready").status, 503)
    fams = scrape(s.port)
    eq(promtext.value(fams, "evapi_ready_check_success"), 0)
    d = promtext.value(fams, "evapi_ready_check_duration_seconds")
    check(0 < d < 1, f"duration {d}")
    check(promtext.value(fams, "evapi_ready_checks_total",
                         result="connection refused") >= 1, "by result")
    eq(promtext.value(fams, "evapi_ready_checks_total", result="ok"), 0)


@suite.test
def ready_check_gauges_when_the_database_answers():
    """With PostgreSQL up the last check succeeded (1) and counts as ok"""
    import pgcluster
    pg = pgcluster.for_suite(suite, skip)
    s = server(API_PLUGINS="health,ready,metrics", DATABASE_URL=pg.url())
    eq(s.get("/ready").status, 200)
    fams = scrape(s.port)
    eq(promtext.value(fams, "evapi_ready_check_success"), 1)
    check(promtext.value(fams, "evapi_ready_checks_total", result="ok") >= 1,
          "ok counted")


if __name__ == "__main__":
    suite.run()
