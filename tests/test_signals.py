#!/usr/bin/env python3
"""Signals: graceful drain on SIGTERM/SIGINT, as a child and as PID 1."""

import os
import shutil
import signal
import subprocess
import threading
import time

from fixtures import build, copy_builtins, plugin_dir, pkg_flags, INCLUDE
from evapitest import (Suite, Server, check, eq, http, skip, evapi_bin,
                       base_env, free_port, port_is_listening, child_of)

STATIC = os.environ.get("EVAPI_STATIC") == "yes"
# The slow fixture needs dlopen: in the static build those cases may skip
# (the dynamic suite runs them).
suite = Suite("signals", required=not STATIC)

if not STATIC:
    PDIR = plugin_dir(suite)
    copy_builtins(PDIR)
    build("slow.c", os.path.join(PDIR, "slow.so"),
          cflags=["-I", INCLUDE] + pkg_flags("libevent"))
    SLOW = dict(API_PLUGINS="health,slow", API_PLUGIN_DIR=PDIR)


def need_slow():
    if STATIC:
        skip("the slow fixture plugin needs the dynamic build")


@suite.test
def sigterm_idle_exits_zero():
    """SIGTERM on an idle server exits 0 promptly and logs the drain"""
    s = Server(suite, API_PLUGINS="health")
    s.start()
    t0 = time.monotonic()
    s.signal(signal.SIGTERM)
    eq(s.wait(5), 0)
    check(time.monotonic() - t0 < 1.0, "exit within a second")
    msgs = [r["msg"] for r in s.log_records()]
    check("draining" in msgs and "stopped" in msgs, msgs)


@suite.test
def sigint_drains_too():
    """SIGINT drains like SIGTERM"""
    s = Server(suite, API_PLUGINS="health")
    s.start()
    s.signal(signal.SIGINT)
    eq(s.wait(5), 0)


@suite.test
def inflight_request_completes():
    """SIGTERM during a slow request: it completes, then exit 0 in the bound"""
    need_slow()
    s = Server(suite, SHUTDOWN_TIMEOUT=5, **SLOW)
    s.start()
    result = {}

    def slow():
        result["r"] = http(s.port, "/slow?ms=1500", timeout=10)

    th = threading.Thread(target=slow)
    th.start()
    time.sleep(0.3)
    t0 = time.monotonic()
    s.signal(signal.SIGTERM)
    time.sleep(0.3)
    check(not port_is_listening(s.port), "listener closed while draining")
    eq(s.wait(5), 0)
    took = time.monotonic() - t0
    th.join(5)
    eq(result["r"].status, 200, "the in-flight request completed")
    check(1.0 < took < 5.0, f"exit after the request, within the bound ({took:.2f}s)")


@suite.test
def shutdown_timeout_bounds_drain():
    """A request slower than SHUTDOWN_TIMEOUT does not hold the exit"""
    need_slow()
    s = Server(suite, SHUTDOWN_TIMEOUT=1, **SLOW)
    s.start()
    th = threading.Thread(target=lambda: _quiet(lambda: http(s.port, "/slow?ms=8000", timeout=10)))
    th.start()
    time.sleep(0.3)
    t0 = time.monotonic()
    s.signal(signal.SIGTERM)
    eq(s.wait(5), 0)
    took = time.monotonic() - t0
    check(took < 2.0, f"exited {took:.2f}s after SIGTERM with SHUTDOWN_TIMEOUT=1")
    th.join(10)


def _quiet(fn):
    try:
        fn()
    except Exception:  # noqa: BLE001 - the connection is cut on purpose
        pass


@suite.test
def second_signal_exits_at_once():
    """A second SIGTERM during the drain exits immediately"""
    need_slow()
    s = Server(suite, SHUTDOWN_TIMEOUT=30, **SLOW)
    s.start()
    th = threading.Thread(target=lambda: _quiet(lambda: http(s.port, "/slow?ms=20000", timeout=25)))
    th.start()
    time.sleep(0.3)
    s.signal(signal.SIGTERM)
    time.sleep(0.3)
    check(s.proc.poll() is None, "still draining after the first signal")
    t0 = time.monotonic()
    s.signal(signal.SIGTERM)
    rc = s.wait(5)
    check(time.monotonic() - t0 < 1.0, "second signal ends it at once")
    eq(rc, 128 + signal.SIGTERM)
    th.join(25)


@suite.test
def drain_delay_keeps_serving():
    """DRAIN_DELAY keeps answering for that long after SIGTERM, then exits 0"""
    s = Server(suite, API_PLUGINS="health", DRAIN_DELAY=1, SHUTDOWN_TIMEOUT=5)
    s.start()
    t0 = time.monotonic()
    s.signal(signal.SIGTERM)
    time.sleep(0.4)
    eq(s.get("/health").status, 200, "still serving during DRAIN_DELAY")
    eq(s.wait(5), 0)
    check(time.monotonic() - t0 >= 0.9, "waited for DRAIN_DELAY")


@suite.test
def pid1_drains_on_sigterm():
    """As PID 1 in its own PID namespace, SIGTERM drains and exits 0"""
    if shutil.which("unshare") is None:
        skip("unshare (util-linux) is not installed")
    port = free_port()
    env = base_env(PORT=port, API_PLUGINS="health")
    p = subprocess.Popen(["unshare", "--pid", "--fork", "--kill-child", "--mount-proc",
                          evapi_bin()], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    suite.cleanups.append(lambda: p.kill())
    try:
        kid = child_of(p.pid)
    except AssertionError:
        p.kill()
        out, err = p.communicate()
        skip(f"cannot create a PID namespace here: {err.decode()[-200:]}")
    with open(f"/proc/{kid}/status") as f:
        nspid = [l for l in f if l.startswith("NSpid:")][0].split()
    eq(nspid[-1], "1", "evapi is PID 1 in its namespace")
    deadline = time.monotonic() + 5
    while not port_is_listening(port):
        check(time.monotonic() < deadline, "PID 1 evapi never listened")
        time.sleep(0.05)
    eq(http(port, "/health").status, 200)
    t0 = time.monotonic()
    os.kill(kid, signal.SIGTERM)
    eq(p.wait(5), 0)
    check(time.monotonic() - t0 < 2.0, "exit promptly")
    out = p.stdout.read().decode()
    check('"msg":"stopped"' in out, out[-500:])


suite.run()
