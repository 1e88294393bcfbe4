#!/usr/bin/env python3
"""The real binary over real HTTP: routes, methods, limits, logs."""

import json
import os
import socket
import subprocess
import time

from evapitest import (Suite, Server, check, eq, http, parse_response,
                       raw_exchange, run_evapi, base_env, free_port, rss_kib,
                       evapi_bin)
from hardening import sanitized

suite = Suite("http")
srv = Server(suite, API_PLUGINS="health,version", ENVIRONMENT="test-env",
             LOG_LEVEL="info")
srv.start()


@suite.test
def health_ok():
    """GET /health is 200 {"status":"ok"} as application/json"""
    r = srv.get("/health")
    eq(r.status, 200)
    eq(r.body, b'{"status":"ok"}\n')
    eq(r.header("Content-Type"), "application/json")
    eq(r.header("Content-Length"), "16")


@suite.test
def head_like_get():
    """HEAD /health: same status and headers as GET, no body"""
    data = raw_exchange(srv.port, b"HEAD /health HTTP/1.1\r\nHost: x\r\n"
                        b"Connection: close\r\n\r\n")
    r, rest = parse_response(data, head=True)
    eq(r.status, 200)
    eq(r.header("Content-Length"), "16")
    eq(r.header("Content-Type"), "application/json")
    eq(rest, b"", "no body after the head")


@suite.test
def version_facts():
    """GET /version reports name, version, commit, date, env, plugins, libs"""
    r = srv.get("/version")
    eq(r.status, 200)
    v = r.json()
    eq(v["name"], "evapi")
    check(v["version"] and v["commit"] and v["build_date"], v)
    eq(v["environment"], "test-env")
    eq(v["plugins"], ["health", "version"])
    check(v["libraries"]["libevent"].startswith("2."), v)
    check(v["libraries"]["json-c"], v)
    out = run_evapi(["--version"], base_env()).stdout
    check(v["version"] in out and v["commit"] in out, out)
    check("libevent" in out and "json-c" in out, out)


@suite.test
def not_found_json():
    """Unknown path: 404 with a JSON body"""
    r = srv.get("/nope")
    eq(r.status, 404)
    rid = r.header("X-Request-Id")
    check(rid, "an X-Request-Id")
    eq(r.json(), {"error": "not found", "status": 404, "request_id": rid})


@suite.test
def raw_path_routing():
    """Only the exact raw path routes: encoded or dotted variants are 404;
    an absolute-form target routes on its path (RFC 9112 3.2.2)"""
    for path in ("/%68ealth", "/health%2500x", "/health/", "//health",
                 "/x/../health", "/HEALTH", "http://localhost/health/"):
        eq(srv.get(path).status, 404, path)
    eq(srv.get("/health?probe=1").status, 200, "a query string is allowed")
    for path in ("http://localhost/health", "HTTP://127.0.0.1:1/health?x",
                 "https://other.example/health"):
        eq(srv.get(path).status, 200, path)


@suite.test
def method_not_allowed():
    """POST, PUT, DELETE, PATCH on a known path: 405 with Allow; OPTIONS:
    204 with Allow; OPTIONS *: the server's methods"""
    for m in ("POST", "PUT", "DELETE", "PATCH", "TRACE"):
        r = http(srv.port, "/health", method=m)
        eq(r.status, 405, m)
        eq(r.header("Allow"), "GET, HEAD, OPTIONS", m)
        eq(r.json()["status"], 405, m)
    r = http(srv.port, "/health", method="OPTIONS")
    eq((r.status, r.header("Allow"), r.body), (204, "GET, HEAD, OPTIONS", b""))
    eq(r.header("Content-Length"), None, "204 has no length")
    r = http(srv.port, "*", method="OPTIONS")
    eq((r.status, r.header("Allow")),
       (204, "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"))
    for m in ("FOO", "CONNECT"):
        eq(http(srv.port, "/health", method=m).status, 501, m)


@suite.test
def keep_alive():
    """Three pipelined requests on one connection get three ordered answers"""
    req = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
    last = b"GET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    data = raw_exchange(srv.port, req + req + last)
    r1, rest = parse_response(data)
    r2, rest = parse_response(rest)
    r3, rest = parse_response(rest)
    eq([r1.status, r2.status, r3.status], [200, 200, 200])
    check(b'"name":"evapi"' in r3.body, r3.body)


@suite.test
def oversized_headers():
    """A header block over MAX_HEADER_SIZE gets a 4xx; the server serves on"""
    big = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n"
    data = raw_exchange(srv.port, big)
    status = int(data.split(b" ")[1]) if data else 0
    check(400 <= status < 500, f"got {data[:80]!r}")
    eq(srv.get("/health").status, 200)


@suite.test
def oversized_body():
    """A body over MAX_BODY_SIZE gets 413, and the client receives it"""
    r = http(srv.port, "/health", method="POST", body=b"x" * 20000)
    eq(r.status, 413)
    eq(srv.get("/health").status, 200)


@suite.test
def json_logs():
    """stdout is JSON lines; the start line carries the build facts"""
    recs = srv.log_records()
    check(recs, "no log lines")
    for rec in recs:
        check({"time", "level", "msg"} <= rec.keys(), rec)
    start = [r for r in recs if r["msg"] == "evapi started"]
    eq(len(start), 1, "one start line")
    s = start[0]
    eq(s["environment"], "test-env")
    eq(s["plugins"], "health,version")
    eq(s["address"], f"127.0.0.1:{srv.port}")
    check(s["version"] and s["commit"], s)
    check(not any(r["level"] == "debug" for r in recs), "LOG_LEVEL=info hides debug")


@suite.test
def access_log():
    """ACCESS_LOG=on writes one line per request with method, path, status"""
    with Server(suite, API_PLUGINS="health", ACCESS_LOG="on",
                LOG_LEVEL="info") as s:
        s.start()
        s.get("/nope")
        time.sleep(0.1)
        lines = [r for r in s.log_records() if r["msg"] == "request"
                 and r["path"] == "/nope"]
        eq(len(lines), 1, "one access line")
        eq(lines[0]["status"], "404")
        eq(lines[0]["method"], "GET")


@suite.test
def healthcheck_live_and_dead():
    """--healthcheck exits 0 against a live server, 1 against a dead port"""
    env = base_env(PORT=srv.port)
    r = run_evapi(["--healthcheck"], env)
    eq(r.returncode, 0, r.stderr)
    r = run_evapi(["-health"], env)
    eq(r.returncode, 0, r.stderr)
    dead = free_port()
    t0 = time.monotonic()
    r = run_evapi(["--healthcheck"], base_env(PORT=dead))
    eq(r.returncode, 1)
    check(time.monotonic() - t0 < 2.5, "dead port answered within the timeout")


@suite.test
def healthcheck_timeout():
    """--healthcheck gives up after HEALTHCHECK_TIMEOUT_MS on a mute server"""
    with socket.socket() as mute:
        mute.bind(("127.0.0.1", 0))
        mute.listen(8)
        port = mute.getsockname()[1]
        t0 = time.monotonic()
        r = run_evapi(["--healthcheck"],
                      base_env(PORT=port, HEALTHCHECK_TIMEOUT_MS=300))
        took = time.monotonic() - t0
    eq(r.returncode, 1)
    check(took < 2.0, f"took {took:.2f}s")


def threads(pid):
    """The number of threads of PID, from /proc/PID/status."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    raise AssertionError(f"no Threads: line for {pid}")


def sanitizer_build():
    """Is the binary built with sanitizers? ASAN_OPTIONS set by the
    caller, or the runtime's symbols in the binary (static or not)."""
    return bool(os.environ.get("ASAN_OPTIONS")) or sanitized(evapi_bin())


@suite.test
def workers_serve():
    """WORKERS=2 runs two event-loop threads on one port; both answer"""
    with Server(suite, API_PLUGINS="health,version", WORKERS=2,
                LOG_LEVEL="info") as s:
        s.start()
        for _ in range(20):
            eq(s.get("/health").status, 200)
        start = [r for r in s.log_records() if r["msg"] == "evapi started"][0]
        eq(start["workers"], "2")
        # The log line could lie: count the threads the kernel sees. The
        # main thread runs one loop, each further worker is one thread.
        eq(threads(s.proc.pid), 2, "threads for WORKERS=2")


def started_workers(s):
    return [r for r in s.log_records() if r["msg"] == "evapi started"][0]["workers"]


@suite.test
def workers_follow_affinity():
    """WORKERS=auto runs one loop per CPU of the affinity mask (taskset -c 0: 1)"""
    import shutil
    if shutil.which("taskset") is None:
        from evapitest import skip
        skip("taskset (util-linux) is not installed")
    with Server(suite, API_PLUGINS="health", WORKERS="auto",
                wrapper=["taskset", "-c", "0"]) as s:
        s.start()
        eq(started_workers(s), "1")


@suite.test
def workers_follow_cgroup_quota():
    """WORKERS=auto honours a cgroup CPU quota (1 CPU of quota: 1 loop)"""
    from evapitest import skip
    import tempfile
    v1 = "/sys/fs/cgroup/cpu"
    if os.geteuid() != 0:
        skip("creating a cgroup needs root")
    if os.path.exists(os.path.join(v1, "cpu.cfs_quota_us")):
        group = tempfile.mkdtemp(prefix="evapi-test-", dir=v1)
        with open(os.path.join(group, "cpu.cfs_period_us"), "w") as f:
            f.write("100000")
        with open(os.path.join(group, "cpu.cfs_quota_us"), "w") as f:
            f.write("100000")
        tasks = os.path.join(group, "tasks")
    elif os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        group = tempfile.mkdtemp(prefix="evapi-test-", dir="/sys/fs/cgroup")
        try:
            with open(os.path.join(group, "cpu.max"), "w") as f:
                f.write("100000 100000")
        except OSError as e:
            os.rmdir(group)
            skip(f"the cpu controller is not available here: {e}")
        tasks = os.path.join(group, "cgroup.procs")
    else:
        skip("no cgroup CPU controller mounted")
    wrapper = ["sh", "-c", f'echo $$ > {tasks} && exec "$@"', "sh"]
    try:
        if os.cpu_count() < 2:
            skip("one CPU: a quota of one cannot be told from the affinity")
        with Server(suite, API_PLUGINS="health", WORKERS="auto",
                    wrapper=wrapper) as s:
            s.start()
            eq(started_workers(s), "1")
    finally:
        time.sleep(0.2)
        os.rmdir(group)


@suite.test
def ipv6_bind():
    """BIND_ADDRESS=::1 serves over IPv6"""
    try:
        with socket.socket(socket.AF_INET6) as t:
            t.bind(("::1", 0))
    except OSError as e:
        from evapitest import skip
        skip(f"no IPv6 loopback here: {e}")
    with Server(suite, API_PLUGINS="health", BIND_ADDRESS="::1") as s:
        s.start(wait=False)
        deadline = time.monotonic() + 5
        while True:
            try:
                r = http(s.port, "/health", host="::1")
                break
            except OSError:
                check(time.monotonic() < deadline, "no answer on ::1")
                time.sleep(0.05)
        eq(r.status, 200)
        r = run_evapi(["--healthcheck"], base_env(PORT=s.port, BIND_ADDRESS="::1"))
        eq(r.returncode, 0)


@suite.test
def idle_rss():
    """Idle RSS stays under 8 MiB (64 MiB under sanitizers)"""
    kib = rss_kib(srv.proc.pid)
    # ASan's shadow memory and quarantine cost tens of MiB by themselves.
    limit = 64 * 1024 if sanitizer_build() else 8 * 1024
    print(f"# idle RSS {kib} KiB (limit {limit} KiB)")
    check(kib < limit, f"idle RSS {kib} KiB >= {limit} KiB")


suite.run()
