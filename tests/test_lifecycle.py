#!/usr/bin/env python3
"""Shutdown races, log-line validity and cross-variable configuration.

The shutdown cases reproduce races a review found: a keep-alive request
read after the plugins finished, and a /ready answer queued on a loop when
SHUTDOWN_TIMEOUT cut the drain. Each must end in exit 0 with no sanitizer
report (the suite's last case checks every server's stderr).
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import evapitest as et

STATIC = os.environ.get("EVAPI_STATIC") == "yes"
suite = et.Suite("lifecycle")


def mute_listener():
    """A TCP listener that accepts and never answers (a hung database)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    held = []

    def accept():
        while True:
            try:
                c, _ = s.accept()
                held.append(c)
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    suite.cleanups.append(s.close)
    return s.getsockname()[1]


@suite.test
def keepalive_request_after_loops_end():
    """WORKERS=2: keep-alive /ready requests sent during the drain never reach a finished plugin"""
    port = mute_listener()
    for delay in (0.02, 0.06, 0.09):
        s = et.Server(suite, API_PLUGINS="health,ready", WORKERS=2,
                      DATABASE_URL=f"postgresql://u:pw12345@127.0.0.1:{port}/db",
                      LOG_LEVEL="info")
        s.start()
        conns = []
        for _ in range(16):
            c = socket.create_connection(("127.0.0.1", s.port), timeout=5)
            c.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            c.recv(1000)
            conns.append(c)
        s.signal(signal.SIGTERM)
        time.sleep(delay)
        for c in conns:
            try:
                c.sendall(b"GET /ready HTTP/1.1\r\nHost: x\r\n\r\n")
            except OSError:
                pass
        et.eq(s.wait(10), 0, f"exit status after {delay}s: {s.stderr()[-800:]}")
        for c in conns:
            c.close()


@suite.test
def shutdown_timeout_with_ready_pending():
    """SHUTDOWN_TIMEOUT cutting a pending /ready check: exit 0, no use after free"""
    port = mute_listener()
    for delay in (0.0, 0.0005, 0.001, 0.002):
        s = et.Server(suite, API_PLUGINS="health,ready", WORKERS=1,
                      DATABASE_URL=f"postgresql://u:pw12345@127.0.0.1:{port}/db",
                      READY_TIMEOUT_MS=1000, READY_CACHE_MS=0,
                      SHUTDOWN_TIMEOUT=1, LOG_LEVEL="info")
        s.start()
        time.sleep(1.2)  # the start-up check timed out; a new one may start
        c = socket.create_connection(("127.0.0.1", s.port), timeout=5)
        c.sendall(b"GET /ready HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(delay)
        s.signal(signal.SIGTERM)
        et.eq(s.wait(10), 0, f"exit status: {s.stderr()[-800:]}")
        c.close()


@suite.test
def drain_answers_close_the_connection():
    """During DRAIN_DELAY, answers carry Connection: close"""
    s = et.Server(suite, API_PLUGINS="health", DRAIN_DELAY=1)
    s.start()
    c = socket.create_connection(("127.0.0.1", s.port), timeout=5)
    c.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    r, _ = et.parse_response(c.recv(4096))
    et.check(r.header("Connection") is None, "keep-alive before the drain")
    s.signal(signal.SIGTERM)
    time.sleep(0.2)
    c.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    r, _ = et.parse_response(c.recv(4096))
    et.eq(r.status, 200)
    et.eq(r.header("Connection"), "close")
    et.eq(c.recv(100), b"", "the server closed the connection")
    c.close()
    et.eq(s.wait(5), 0)


@suite.test
def log_lines_stay_valid_json():
    """Access-log lines stay valid UTF-8 JSON for 8-bit and very long paths"""
    s = et.Server(suite, API_PLUGINS="health", ACCESS_LOG="on",
                  MAX_HEADER_SIZE=16384, LOG_LEVEL="info")
    s.start()
    et.raw_exchange(s.port, b"GET /\xbchealth\xff HTTP/1.1\r\nHost: x\r\n"
                    b"Connection: close\r\n\r\n")
    et.raw_exchange(s.port, b"GET /" + b"a" * 6000 + b" HTTP/1.1\r\nHost: x\r\n"
                    b"Connection: close\r\n\r\n")
    time.sleep(0.2)
    s.logfile.flush()
    s.logfile.seek(0)
    raw = s.logfile.read()
    lines = raw.splitlines()
    et.check(len(lines) >= 3, f"{len(lines)} lines")
    for line in lines:
        et.check(len(line) < 4096, f"a line of {len(line)} bytes")
        json.loads(line.decode("utf-8"))  # strict: raises on invalid UTF-8
    recs = [json.loads(l) for l in lines if b'"msg":"request"' in l]
    # The 8-bit target is refused (400) and logged with its request line.
    bad = [r for r in recs if r.get("status") == "400"]
    et.check(bad and bad[0]["line"].startswith("GET /\u00bchealth\u00ff"), recs)
    et.check(any(r.get("path", "").startswith("/aaaa") for r in recs), recs)


@suite.test
def environment_must_be_ascii():
    """ENVIRONMENT with 8-bit bytes exits 78 (it is served in /version)"""
    env = et.base_env(ENVIRONMENT="prod")
    env_bytes = {k.encode(): v.encode() for k, v in env.items()}
    env_bytes[b"ENVIRONMENT"] = b"prod\xff\xfe"
    r = subprocess.run([et.evapi_bin(), "--check-config"], env=env_bytes,
                       capture_output=True, timeout=10)
    et.eq(r.returncode, 78, r.stderr)
    et.check(b"ENVIRONMENT" in r.stderr and b"ASCII" in r.stderr, r.stderr)


@suite.test
def max_connections_below_workers():
    """MAX_CONNECTIONS counts the whole process: below WORKERS is valid, and
    a cap of 1 with 2 workers keeps exactly one connection open"""
    s = et.Server(suite, API_PLUGINS="health", MAX_CONNECTIONS=1, WORKERS=2,
                  LOG_LEVEL="info")
    s.start()
    import socket as so
    a = so.create_connection(("127.0.0.1", s.port))
    a.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    et.parse_response(a.recv(4096))
    b = so.create_connection(("127.0.0.1", s.port))
    b.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    r, _ = et.parse_response(b.recv(4096))
    et.eq(r.status, 200, "the newcomer is served")
    a.settimeout(2)
    et.eq(a.recv(100), b"", "the older idle connection was closed for it")
    a.close()
    b.close()
    et.eq(s.stop(), 0)


@suite.test
def loops_outlive_a_full_cap():
    """A loop whose listener waits for room at MAX_CONNECTIONS, with no
    connection of its own, is still there when room comes back: it accepts
    again, and the server runs until told to stop (it used to run out of
    events and end, and loop 0 then closed every listener)"""
    import socket as so
    mute = so.socket()  # a database that accepts and never answers
    mute.bind(("127.0.0.1", 0))
    mute.listen(64)
    url = f"postgresql://u:p@127.0.0.1:{mute.getsockname()[1]}/db"
    try:
        # The one connection allowed waits in a handler (not evictable) on
        # one loop; connections the other loop takes meanwhile make it wait
        # for room, with nothing else once they end. Half the time the
        # waiting one is on that other loop: four servers.
        for attempt in range(4):
            s = et.Server(suite, API_PLUGINS="health,ready", MAX_CONNECTIONS=1,
                          WORKERS=2, LOG_LEVEL="info", READY_TIMEOUT_MS=800,
                          DATABASE_URL=url)
            s.start()
            held = threading.Thread(target=lambda: et.http(s.port, "/ready",
                                                           timeout=3))
            held.start()
            time.sleep(0.1)
            for _ in range(10):
                et.http(s.port, "/health", timeout=2)
            held.join(5)
            time.sleep(0.2)
            for i in range(12):
                et.eq(et.http(s.port, "/health", timeout=2).status, 200,
                      f"server {attempt}, connection {i} after the wait")
            msgs = [r["msg"] for r in s.log_records()]
            et.check("closing listeners" not in msgs,
                     f"server {attempt} stopped by itself: {msgs}")
            et.eq(s.stop(), 0)
    finally:
        mute.close()


@suite.test
def workers_follow_quota_in_container_style_mount():
    """WORKERS=auto reads the quota when the cgroup is mounted at the root (containers)"""
    v1 = "/sys/fs/cgroup/cpu"
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        et.skip("needs root and unshare")
    if not os.path.exists(os.path.join(v1, "cpu.cfs_quota_us")):
        et.skip("no cgroup v1 cpu controller here (the v2 path is tested in test_http)")
    if (os.cpu_count() or 1) < 2:
        et.skip("one CPU: a quota of one cannot be told from the affinity")
    group = tempfile.mkdtemp(prefix="evapi-ct-", dir=v1)
    try:
        with open(os.path.join(group, "cpu.cfs_period_us"), "w") as f:
            f.write("100000")
        with open(os.path.join(group, "cpu.cfs_quota_us"), "w") as f:
            f.write("100000")
        # Like a container without a cgroup namespace: its own group is
        # mounted at the root, /proc/self/cgroup still shows the host path.
        script = (f'mount --bind {group} {v1} && echo $$ > {v1}/tasks && '
                  'exec "$@"')
        s = et.Server(suite, API_PLUGINS="health", WORKERS="auto",
                      wrapper=["unshare", "--mount", "sh", "-c", script, "sh"])
        s.start()
        start = [r for r in s.log_records() if r["msg"] == "evapi started"][0]
        et.eq(start["workers"], "1")
        s.kill()
    finally:
        time.sleep(0.2)
        os.rmdir(group)


suite.run()
