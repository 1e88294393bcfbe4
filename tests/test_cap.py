#!/usr/bin/env python3
"""MAX_CONNECTIONS counts the whole process, whatever worker the kernel
hands a connection to: below the cap nothing is evicted; above it, exactly
the excess goes, oldest idle connections first, on any worker."""

import os
import re
import shutil
import socket
import subprocess
import time

from evapitest import Suite, Server, check, eq, skip, evapi_bin

suite = Suite("cap")

REQ = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"


def open_idle(port, n, gap=0.0):
    """N kept-alive connections, each answered once, then idle."""
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
        s.sendall(REQ)
        data = b""
        while b'{"status":"ok"}\n' not in data:
            data += s.recv(4096)
        socks.append(s)
        if gap:
            time.sleep(gap)
    return socks


def alive(s):
    """Answers another request (an evicted one reads EOF or a reset)."""
    try:
        s.sendall(REQ)
        data = b""
        while b'{"status":"ok"}\n' not in data:
            b = s.recv(4096)
            if not b:
                return False
            data += b
        return True
    except OSError:
        return False


def close_all(socks):
    for s in socks:
        s.close()


@suite.test
def below_the_cap_nothing_goes():
    """MAX_CONNECTIONS=10, WORKERS=2: 8 idle connections stay open, 20
    trials out of 20"""
    with Server(suite, API_PLUGINS="health", MAX_CONNECTIONS=10, WORKERS=2,
                LOG_LEVEL="info") as srv:
        srv.start()
        for trial in range(20):
            socks = open_idle(srv.port, 8)
            time.sleep(0.05)
            try:
                lost = [i for i, s in enumerate(socks) if not alive(s)]
                eq(lost, [], f"trial {trial}: connections closed below the cap")
            finally:
                close_all(socks)
            time.sleep(0.05)
        warns = [r for r in srv.log_records() if "cap reached" in r["msg"]]
        eq(warns, [], "never at the cap")


@suite.test
def above_the_cap_the_oldest_go():
    """At 10 + 3 connections exactly 3 go, the 3 oldest idle ones, whatever
    worker holds them"""
    with Server(suite, API_PLUGINS="health", MAX_CONNECTIONS=10, WORKERS=2,
                LOG_LEVEL="info") as srv:
        srv.start()
        for trial in range(5):
            old = open_idle(srv.port, 10, gap=0.01)
            new = open_idle(srv.port, 3, gap=0.01)
            time.sleep(0.1)
            try:
                states = [alive(s) for s in old]
                eq(states, [False] * 3 + [True] * 7, f"trial {trial}")
                check(all(alive(s) for s in new), "the newcomers are served")
            finally:
                close_all(old + new)
            time.sleep(0.1)


def wrk():
    w = shutil.which("wrk")
    if w is None:
        skip("wrk is not installed")
    return w


@suite.test
def wrk_1000_connections_under_the_default_cap():
    """wrk -c1000 against MAX_CONNECTIONS=auto (1024 with room for it):
    no socket error, nothing evicted"""
    w = wrk()
    # The cap is 1024 only when RLIMIT_NOFILE leaves room; wrk needs the
    # descriptors too.
    wrapper = ["prlimit", "--nofile=4096:4096", "--"]
    with Server(suite, API_PLUGINS="health", WORKERS=2, LOG_LEVEL="info",
                wrapper=wrapper) as srv:
        srv.start()
        start = [r for r in srv.log_records() if r["msg"] == "evapi started"][0]
        eq(start["max_connections"], "1024")
        r = subprocess.run(wrapper + [w, "-t2", "-c1000", "-d3s",
                                      f"http://127.0.0.1:{srv.port}/health"],
                           capture_output=True, text=True, timeout=30)
        print("# " + " | ".join(l.strip() for l in r.stdout.splitlines()
                                 if "Requests/sec" in l or "errors" in l))
        eq(r.returncode, 0, r.stderr)
        check("Socket errors" not in r.stdout, r.stdout)
        check(re.search(r"Requests/sec:\s+\d", r.stdout), r.stdout)
        warns = [x for x in srv.log_records() if "cap reached" in x["msg"]]
        eq(warns, [], "nothing evicted")


if __name__ == "__main__":
    suite.run()
