#!/usr/bin/env python3
"""Hardening: the bad-input and resource cases of the HTTP hardening notes.

H1-H11 (malformed and smuggling requests, oversized and slow ones), the
connection cap and the probe listener, R1 (descriptor exhaustion) and a
long run. Plugin, configuration and signal faults live in test_loader.py,
test_config_env.py and test_signals.py.

Each case asserts on the raw bytes the server sends back: a smuggled
`GET /smuggled` must never be answered as a request of its own.
"""

import os
import shutil
import socket
import subprocess
import time

from evapitest import (Suite, Server, check, eq, skip, http, base_env,
                       run_evapi, free_port, rss_kib, fd_count, evapi_bin)
from hardening import (responses, exchange, read_until_close, connect_many,
                       close_all, alive, cpu_share, nofile_wrapper, wait_for,
                       sanitized)

STATIC = os.environ.get("EVAPI_STATIC") == "yes"
# RSS is asserted in the plain build only; the sanitizer build checks leaks.
ASAN = sanitized(evapi_bin())
suite = Suite("hardening")

srv = Server(suite, API_PLUGINS="health,version", LOG_LEVEL="info",
             ACCESS_LOG="on")
srv.start()

GET = b"GET /health HTTP/1.1\r\nHost: x\r\n"


def exits_clean(s):
    """SIGTERM: exit 0, nothing on stderr. In the sanitizer build a leak or
    a bad access changes both (scripts/run-tests sets ASAN_OPTIONS)."""
    rc = s.stop()
    err = s.stderr()
    eq(rc, 0, f"exit status; stderr: {err[-3000:]}")
    check("Sanitizer" not in err and "runtime error" not in err, err[-3000:])

SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"


def one_refusal(payload, statuses=(400,), port=None, what=""):
    """PAYLOAD gets exactly one answer, a refusal with Connection: close,
    and the server closes the connection: nothing after it is a request."""
    data, closed = exchange(port or srv.port, payload, timeout=1.5)
    rs = responses(data)
    eq(len(rs), 1, f"{what}: one response, got {data[:300]!r}")
    check(rs[0].status in statuses, f"{what}: status {rs[0].status}, "
          f"want {statuses}: {data[:300]!r}")
    eq((rs[0].header("Connection") or "").lower(), "close",
       f"{what}: Connection: close")
    check(closed, f"{what}: the server kept the connection open")
    check(data.count(b"HTTP/") == 1, f"{what}: a second response: {data!r}")
    return rs[0]


def no_smuggled_request_reached_a_handler():
    time.sleep(0.1)
    paths = [r.get("path") for r in srv.log_records() if r["msg"] == "request"]
    check("/smuggled" not in paths, "a smuggled request was answered")


@suite.test
def h1_content_length():
    """H1: duplicate or malformed Content-Length: one 400, then close"""
    cases = {
        "conflicting": b"Content-Length: 0\r\nContent-Length: 35\r\n\r\n",
        "identical": b"Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
        "list": b"Content-Length: 3, 3\r\n\r\nabc",
        "plus": b"Content-Length: +3\r\n\r\nabc",
        "negative": b"Content-Length: -1\r\n\r\n",
        "hex": b"Content-Length: 0x3\r\n\r\nabc",
    }
    for what, tail in cases.items():
        one_refusal(GET + tail + SMUGGLED, what=what)
    no_smuggled_request_reached_a_handler()


@suite.test
def h2_transfer_encoding():
    """H2: Transfer-Encoding other than one "chunked" alone (CL+TE, lists,
    identity, twice, space-colon, obs-fold): one 400 or 501, the pipelined
    /smuggled never answered"""
    body = b"3\r\nabc\r\n0\r\n\r\n"
    cases = {
        "CL+TE": b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n" + body,
        "gzip,chunked": b"Transfer-Encoding: gzip, chunked\r\n\r\n" + body,
        "chunked,gzip": b"Transfer-Encoding: chunked, gzip\r\n\r\n" + body,
        "identity": b"Transfer-Encoding: identity\r\nContent-Length: 3\r\n\r\nabc",
        "twice": b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n" + body,
        "space-colon": b"Content-Length: 13\r\nTransfer-Encoding : chunked\r\n\r\n" + body,
        "obs-fold": b"Content-Length: 13\r\nTransfer-Encoding: x\r\n chunked\r\n\r\n" + body,
        "tab-name": b"Content-Length: 13\r\nTransfer-Encoding\t: chunked\r\n\r\n" + body,
    }
    for what, tail in cases.items():
        for method in (b"GET", b"POST"):
            req = method + GET[3:] + tail + SMUGGLED
            one_refusal(req, statuses=(400, 501), what=f"{method.decode()} {what}")
    no_smuggled_request_reached_a_handler()


@suite.test
def h2_chunked_framing_is_exact():
    """H2: a valid chunked body (with a trailer that names framing headers)
    is read to its exact end: the request after it is answered as the next
    request, the trailer changes nothing"""
    nxt = b"GET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    for trailer in (b"", b"Content-Length: 99\r\nTransfer-Encoding: x\r\n"):
        req = (b"POST /health HTTP/1.1\r\nHost: x\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n"
               b"3\r\nabc\r\n0\r\n" + trailer + b"\r\n" + nxt)
        data, closed = exchange(srv.port, req, timeout=2)
        eq([r.status for r in responses(data)], [405, 200], trailer)
        check(closed, "closed after the second, as it asked")


@suite.test
def h3_chunk_framing():
    """H3: odd chunk framing: refused, never 2xx, one answer"""
    head = b"POST /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    cases = {
        "0x3": b"0x3\r\nabc\r\n0\r\n\r\n",
        "bare LF": b"3\nabc\n0\n\n",
        "bare LF, last chunk": b"3\r\nabc\r\n0\n\r\n",
        "no CRLF after data": b"3\r\nabcX0\r\n\r\n",
        "huge size": b"ffffffffffffffffff\r\nabc\r\n0\r\n\r\n",
        "extension": b"3;foo=bar\r\nabc\r\n0\r\n\r\n",
        "space before size": b" 3\r\nabc\r\n0\r\n\r\n",
        "bad trailer": b"3\r\nabc\r\n0\r\nX Y: 1\r\n\r\n",
        "over MAX_BODY_SIZE": b"4001\r\n" + b"x" * 16385 + b"\r\n0\r\n\r\n",
    }
    for what, body in cases.items():
        data, closed = exchange(srv.port, head + body + SMUGGLED, timeout=1.5)
        rs = responses(data)
        # Exactly one answer, and it is the refusal: silence (a timeout or
        # a dropped connection) would hide whether anything was parsed.
        eq(len(rs), 1, f"{what}: one response, got {data[:300]!r}")
        check(rs[0].status in (400, 413),
              f"{what}: status {rs[0].status}, want 400/413: {data[:200]!r}")
        if what == "bare LF, last chunk":
            eq(rs[0].status, 400, "a bare LF is a 400, not a 413")
        check(closed, f"{what}: the server kept the connection open")
        check(b"/smuggled" not in data and data.count(b"HTTP/1.") == 1, what)
    no_smuggled_request_reached_a_handler()


@suite.test
def h4_request_line():
    """H4: garbage request lines, bad versions, NUL, spaces: 400/505"""
    cases = {
        "garbage": b"HELLO\r\n\r\n",
        "no version": b"GET /health\r\nHost: x\r\n\r\n",
        "HTTP/2 preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        "HTTP/9.9": b"GET /health HTTP/9.9\r\nHost: x\r\n\r\n",
        "HTTP/1.2": b"GET /health HTTP/1.2\r\nHost: x\r\n\r\n",
        "HTTP/0.9": b"GET /health HTTP/0.9\r\nHost: x\r\n\r\n",
        "NUL in line": b"GET /hea\x00lth HTTP/1.1\r\nHost: x\r\n\r\n",
        "space in target": b"GET /he alth HTTP/1.1\r\nHost: x\r\n\r\n",
        "tab in target": b"GET /he\talth HTTP/1.1\r\nHost: x\r\n\r\n",
        "8-bit target": b"GET /h\xe9alth HTTP/1.1\r\nHost: x\r\n\r\n",
        "relative target": b"GET health HTTP/1.1\r\nHost: x\r\n\r\n",
        "CONNECT": b"CONNECT example.com:443 HTTP/1.1\r\nHost: x\r\n\r\n",
        "CONNECT /health": b"CONNECT /health HTTP/1.1\r\nHost: x\r\n\r\n",
    }
    for what, req in cases.items():
        one_refusal(req + SMUGGLED, statuses=(400, 501, 505), what=what)
    # Versions outside HTTP/DIGIT.DIGIT are malformed (400); well-formed
    # ones evapi does not speak are 505; either way the answer says
    # HTTP/1.1.
    for v, want in ((b"HTTP/1.4294967297", 400), (b"HTTP/1.10", 400),
                    (b"HTTP/1.-1", 400), (b"HTTP/3.0", 505)):
        data, _ = exchange(srv.port, b"GET /health " + v + b"\r\nHost: x\r\n"
                           b"Connection: close\r\n\r\n")
        rs = responses(data)
        eq([r.status for r in rs], [want], v)
        check(data.startswith(b"HTTP/1.1 %d " % want), data[:40])
    eq(srv.get("/health").status, 200, "the server serves on")


@suite.test
def h5_raw_path_routing():
    """H5: only the exact raw path routes; encoded and dotted forms are 404"""
    for path in ("/health%00x", "/%68ealth", "/../health", "/x/../health",
                 "/./health", "//health", "/health/", "/health;x", "/HEALTH",
                 "/health%2F", "/health%20", "http://localhost//health",
                 "/health\\"):
        eq(srv.get(path).status, 404, path)
    eq(srv.get("/health?x=1").status, 200, "a query string is fine")
    eq(srv.get("http://localhost/health").status, 200, "absolute form")
    one_refusal(b"GET * HTTP/1.1\r\nHost: x\r\n\r\n" + SMUGGLED,
                what="* without OPTIONS")


@suite.test
def h6_host_and_header_bytes():
    """H6: Host missing/duplicated; bad names; control bytes in values"""
    bad = {
        "1.1 without Host": b"GET /health HTTP/1.1\r\n\r\n",
        "two Hosts": b"GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        "Host with space": b"GET /health HTTP/1.1\r\nHost: a b\r\n\r\n",
        "Host with slash": b"GET /health HTTP/1.1\r\nHost: a/b\r\n\r\n",
        "1.0 with two Hosts": b"GET /health HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n",
        "empty name": GET + b": x\r\n\r\n",
        "space in name": GET + b"X Y: z\r\n\r\n",
        "space before colon": GET + b"X-A : b\r\n\r\n",
        "control byte in name": GET + b"X\x01A: b\r\n\r\n",
        "8-bit name": GET + b"X\xe9: b\r\n\r\n",
        "control byte in value": GET + b"X-A: a\x01b\r\n\r\n",
        "DEL in value": GET + b"X-A: a\x7fb\r\n\r\n",
        "bare CR in value": GET + b"X-A: a\rb\r\n\r\n",
        "NUL in value": GET + b"X-A: a\x00b\r\n\r\n",
        "obs-fold": GET + b"X-A: a\r\n b\r\n\r\n",
        "obs-fold (tab)": GET + b"X-A: a\r\n\tb\r\n\r\n",
    }
    for what, req in bad.items():
        one_refusal(req + SMUGGLED, what=what)
    good = {
        "1.0 without Host": b"GET /health HTTP/1.0\r\n\r\n",
        "tab in value": GET + b"X-A: a\tb\r\nConnection: close\r\n\r\n",
        "8-bit value": GET + b"X-A: caf\xc3\xa9\r\nConnection: close\r\n\r\n",
        "empty Host": b"GET /health HTTP/1.1\r\nHost:\r\nConnection: close\r\n\r\n",
        "Host with port": b"GET /health HTTP/1.1\r\nHost: [::1]:8080\r\nConnection: close\r\n\r\n",
    }
    for what, req in good.items():
        data, _ = exchange(srv.port, req)
        rs = responses(data)
        eq([r.status for r in rs], [200], what)
    no_smuggled_request_reached_a_handler()


@suite.test
def h7_oversized_heads():
    """H7: 64 KiB target (414), 2000 headers, 100 KB header (431): answered
    in <100 ms, RSS +<1 MiB"""
    cases = {
        "64 KiB target": b"GET /" + b"a" * 65536 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        "2000 headers": GET + b"".join(b"X-%d: y\r\n" % i for i in range(2000)) + b"\r\n",
        "100 KB header": GET + b"X-Big: " + b"a" * 100000 + b"\r\n\r\n",
    }
    want = {"64 KiB target": b"HTTP/1.1 414", "2000 headers": b"HTTP/1.1 431",
            "100 KB header": b"HTTP/1.1 431"}
    for what, req in cases.items():
        exchange(srv.port, req)  # warm-up: first-use allocations
    rss0 = rss_kib(srv.proc.pid)
    worst = 0.0
    for _ in range(20):
        for what, req in cases.items():
            t0 = time.monotonic()
            with socket.create_connection(("127.0.0.1", srv.port)) as s:
                s.sendall(req)
                s.settimeout(2)
                first = s.recv(64)
            took = time.monotonic() - t0
            worst = max(worst, took)
            check(first.startswith(want[what]), f"{what}: {first!r}")
    rss1 = rss_kib(srv.proc.pid)
    print(f"# slowest refusal {worst * 1000:.1f} ms; RSS {rss0} -> {rss1} KiB")
    check(worst < 0.1, f"a refusal took {worst:.3f}s")
    check(ASAN or rss1 - rss0 < 1024, f"RSS grew {rss1 - rss0} KiB")


@suite.test
def h8_oversized_body():
    """H8: a 2 MiB body gets a 413 the client receives; Expect:
    100-continue with a large Content-Length gets no 100"""
    big = 2 * 1024 * 1024
    req = (b"POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
           % big) + b"x" * big
    data, _ = exchange(srv.port, req, timeout=5)
    check(data.startswith(b"HTTP/1.1 413"), f"got {data[:80]!r}")
    # A client that sends Expect waits a while for 100 Continue (curl: 1 s),
    # then sends the body anyway; it must get the 413, and never a 100.
    head = (b"POST /health HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
            b"Content-Length: %d\r\n\r\n" % big)
    with socket.create_connection(("127.0.0.1", srv.port)) as s:
        s.sendall(head)
        s.settimeout(1.0)
        try:
            early = s.recv(100)
        except socket.timeout:
            early = b""
        check(b"100 Continue" not in early, f"got {early!r}")
        try:
            s.sendall(b"x" * big)
        except OSError:
            pass
        rest = early + read_until_close(s, 5)[0]
    check(b"100 Continue" not in rest, "no 100 for a body over the limit")
    check(b" 413 " in rest[:40], f"got {rest[:80]!r}")


@suite.test
def h9_methods():
    """H9: DELETE, TRACE, FOO, PATCH on a route: 405/501, never 2xx"""
    for m, want in ((b"DELETE", 405), (b"TRACE", 405), (b"FOO", 501),
                    (b"PATCH", 405), (b"OPTIONS", 204), (b"get", 501)):
        data, _ = exchange(srv.port, m + b" /health HTTP/1.1\r\nHost: x\r\n"
                           b"Connection: close\r\n\r\n")
        rs = responses(data)
        eq(len(rs), 1, m)
        eq(rs[0].status, want, m)


@suite.test
def h10_pipelining_and_http10_keepalive():
    """H10: 3 pipelined requests, 3 ordered answers; HTTP/1.0 keep-alive
    is kept, then closed at IDLE_TIMEOUT"""
    reqs = (b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data, closed = exchange(srv.port, reqs)
    eq([r.status for r in responses(data)], [200, 404, 200])
    check(closed, "closed after Connection: close")
    with Server(suite, API_PLUGINS="health", IDLE_TIMEOUT=1) as s:
        s.start()
        with socket.create_connection(("127.0.0.1", s.port)) as c:
            t0 = time.monotonic()
            c.sendall(b"GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            data, closed = read_until_close(c, 3)
            took = time.monotonic() - t0
        eq([r.status for r in responses(data)], [200])
        check(closed and 0.8 < took < 2.2, f"closed={closed} after {took:.2f}s")
        exits_clean(s)


# ---- slow clients and the request-head deadline ------------------------------

slow = Server(suite, API_PLUGINS="health", IDLE_TIMEOUT=3, HEADER_TIMEOUT=2,
              LOG_LEVEL="info")
slow.start()


def time_to_close(payload_parts, pause, limit):
    """Send the parts PAUSE seconds apart (stopping when the server closes);
    returns (seconds until the server closed or None, bytes received)."""
    with socket.create_connection(("127.0.0.1", slow.port)) as s:
        t0 = time.monotonic()
        for p in payload_parts:
            if not alive(s):
                break
            try:
                s.sendall(p)
            except OSError:
                break
            time.sleep(pause)
            if time.monotonic() - t0 > limit:
                break
        data, closed = read_until_close(s, max(0.1, limit - (time.monotonic() - t0)))
        return (time.monotonic() - t0 if closed else None), data


@suite.test
def h11_header_trickle_deadline():
    """H11: a head trickled one byte per 0.4 s is cut at HEADER_TIMEOUT
    (2 s) although each byte resets the 3 s inactivity timer"""
    head = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 40
    took, data = time_to_close([bytes([b]) for b in head], 0.4, 5)
    print(f"# trickled head closed after {took}s")
    check(took is not None and 1.9 < took < 3.4, f"closed after {took}")
    eq(data, b"", "no answer to an incomplete head")


@suite.test
def h11_body_trickle_and_huge_length():
    """H11: a trickled body and a 20-digit Content-Length are cut at
    HEADER_TIMEOUT, with no 2xx"""
    head = b"POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
    took, data = time_to_close([head] + [b"x"] * 20, 0.4, 5)
    check(took is not None and 1.9 < took < 3.4, f"body trickle: {took}")
    check(b" 200 " not in data, data)
    huge = b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n"
    took, data = time_to_close([huge + SMUGGLED], 0.1, 5)
    check(took is not None and took < 1.0, f"20 digits: refused at once ({took})")
    eq([r.status for r in responses(data)], [400], data)
    check(b"/smuggled" not in data, data)


@suite.test
def h11_idle_connections():
    """H11: a silent new connection is closed at HEADER_TIMEOUT; an idle
    keep-alive one at IDLE_TIMEOUT (+-0.5 s)"""
    took, _ = time_to_close([b""], 0.0, 5)
    check(took is not None and 1.9 < took < 2.8, f"silent: {took}")
    took, data = time_to_close([b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"], 0.0, 6)
    eq([r.status for r in responses(data)], [200])
    check(took is not None and 2.5 < took < 3.6, f"keep-alive idle: {took}")


# ---- the connection cap and the probe listener -------------------------------

SLOWLORIS = b"GET /health HTTP/1.1\r\nHost: x\r\nX-a: "


def probe_times(port, n=5):
    out = []
    for _ in range(n):
        t0 = time.monotonic()
        r = http(port, "/health", timeout=2)
        out.append(time.monotonic() - t0)
        eq(r.status, 200, r.body)
    return out


@suite.test
def cap_holds_and_probes_answer():
    """Cap: 300 slowloris connections against MAX_CONNECTIONS=32: the
    descriptors stay capped; /health on PORT and PROBE_PORT < 1 s"""
    pport = free_port()
    with Server(suite, API_PLUGINS="health,version", MAX_CONNECTIONS=32,
                WORKERS=2, PROBE_PORT=pport, HEADER_TIMEOUT=60,
                LOG_LEVEL="info") as s:
        s.start()
        fds0 = fd_count(s.proc.pid)
        socks = connect_many(s.port, 300, SLOWLORIS)
        try:
            time.sleep(0.5)
            fds = fd_count(s.proc.pid)
            open_ = sum(alive(x) for x in socks)
            print(f"# fds {fds0} -> {fds}; {open_} of {len(socks)} slowloris "
                  "connections still open")
            check(fds <= fds0 + 32 + 4, f"{fds - fds0} descriptors for connections")
            main = probe_times(s.port)
            probe = probe_times(pport)
            print(f"# /health: PORT max {max(main):.3f}s, "
                  f"PROBE_PORT max {max(probe):.3f}s")
            check(max(main) < 1.0 and max(probe) < 1.0, (main, probe))
            warns = [r for r in s.log_records() if r["level"] == "warn"]
            check(1 <= len(warns) <= 3, f"rate-limited warnings: {warns}")
        finally:
            close_all(socks)
        eq(http(s.port, "/health").status, 200)
        exits_clean(s)


@suite.test
def probe_port_routes_and_healthcheck():
    """PROBE_PORT serves only /health, /ready, /version; --healthcheck
    uses it; PROBE_PORT=PORT is a configuration error"""
    pport = free_port()
    env = {}
    if not STATIC:
        from fixtures import build, copy_builtins, plugin_dir, INCLUDE
        pdir = plugin_dir(suite)
        copy_builtins(pdir)
        build("good.c", os.path.join(pdir, "good.so"), cflags=["-I", INCLUDE])
        env = dict(API_PLUGINS="health,version,good", API_PLUGIN_DIR=pdir)
    with Server(suite, PROBE_PORT=pport, **env) as s:
        s.start()
        eq(http(pport, "/health").status, 200)
        eq(http(pport, "/version").status, 200)
        eq(http(pport, "/nope").status, 404)
        if not STATIC:
            eq(http(s.port, "/good").status, 200, "/good on PORT")
            eq(http(pport, "/good").status, 404, "/good is no probe route")
        one_refusal(GET + b"Content-Length: 0\r\nContent-Length: 35\r\n\r\n"
                    + SMUGGLED, port=pport, what="probe port smuggling")
        r = run_evapi(["--healthcheck"], base_env(PORT=free_port(), PROBE_PORT=pport))
        eq(r.returncode, 0, f"--healthcheck through PROBE_PORT: {r.stderr}")
        exits_clean(s)


@suite.test
def hardening_variables_validated():
    """MAX_CONNECTIONS, HEADER_TIMEOUT, PROBE_PORT: bad values exit 78
    naming the variable; good ones pass --check-config"""
    port = free_port()
    bad = [("PROBE_PORT", port), ("PROBE_PORT", "70000"), ("PROBE_PORT", "x"),
           ("MAX_CONNECTIONS", "0"), ("MAX_CONNECTIONS", "1048577"),
           ("MAX_CONNECTIONS", "many"), ("HEADER_TIMEOUT", "0"),
           ("HEADER_TIMEOUT", "3601"), ("HEADER_TIMEOUT", "5s")]
    for name, value in bad:
        r = run_evapi(["--check-config"], base_env(PORT=port, **{name: value}))
        eq(r.returncode, 78, f"{name}={value}: {r.stderr}")
        check(name in r.stderr and r.stderr.count("\n") == 1, r.stderr)
    good = dict(PROBE_PORT=free_port(), MAX_CONNECTIONS="auto",
                HEADER_TIMEOUT="30")
    r = run_evapi(["--check-config"], base_env(PORT=port, **good))
    eq(r.returncode, 0, r.stderr)
    r = run_evapi(["--help"], base_env())
    for name in ("MAX_CONNECTIONS", "HEADER_TIMEOUT", "PROBE_PORT"):
        check(name in r.stdout, f"--help lists {name}")


# ---- R1: descriptor exhaustion -------------------------------------------------

def flood_and_measure(s, n):
    """Hold N connections for 3 s; returns (CPU share, sockets)."""
    socks = connect_many(s.port, n)
    time.sleep(0.3)
    return cpu_share(s.proc.pid, 3.0), socks


@suite.test
def r1_emfile_backoff():
    """R1: ulimit -n 64, 200 connections: CPU <10%, logs bounded, /health
    200 within 1 s after they close"""
    s = Server(suite, wrapper=nofile_wrapper(64), API_PLUGINS="health",
               MAX_CONNECTIONS=1000, WORKERS=1, LOG_LEVEL="info")
    s.start()
    try:
        lines0 = len(s.stdout().splitlines())
        share, socks = flood_and_measure(s, 200)
        close_all(socks)
        t0 = time.monotonic()
        ok = wait_for(lambda: http_ok(s.port), 1.0)
        took = time.monotonic() - t0
        lines = len(s.stdout().splitlines()) - lines0
        err = len(s.stderr())
        print(f"# CPU {share * 100:.1f}% of one core; {lines} log lines, "
              f"{err} bytes on stderr; /health after {took:.2f}s")
        check(share < 0.10, f"CPU {share * 100:.1f}%")
        check(lines <= 5 and err < 1000, f"{lines} log lines, {err} stderr bytes")
        check(ok, "/health did not answer within 1 s after the clients closed")
        check(any("accept failed" in r["msg"] for r in s.log_records()),
              "the backoff was logged")
        exits_clean(s)
    finally:
        s.kill()


def http_ok(port):
    try:
        return http(port, "/health", timeout=0.5).status == 200
    except OSError:
        return False
    except ValueError:
        return False


@suite.test
def r1_auto_cap_keeps_serving():
    """R1: ulimit -n 64 with MAX_CONNECTIONS=auto: the cap stays below the
    limit, so /health answers <1 s during a 200-connection flood"""
    s = Server(suite, wrapper=nofile_wrapper(64), API_PLUGINS="health",
               WORKERS=1, LOG_LEVEL="info")
    s.start()
    try:
        socks = connect_many(s.port, 200)
        try:
            share = cpu_share(s.proc.pid, 2.0)
            t0 = time.monotonic()
            ok = wait_for(lambda: http_ok(s.port), 1.0)
            print(f"# CPU {share * 100:.1f}%; /health "
                  f"{'after' if ok else 'not within'} "
                  f"{time.monotonic() - t0:.3f}s")
            check(ok, "/health did not answer within 1 s during the flood")
            times = probe_times(s.port)
            check(max(times) < 1.0, times)
            check(share < 0.10, f"CPU {share * 100:.1f}%")
            check(not any("accept failed" in r["msg"] for r in s.log_records()),
                  "descriptors never ran out")
            start = [r for r in s.log_records() if r["msg"] == "evapi started"][0]
            cap = int(start["max_connections"])
            print(f"# auto cap {cap}")
            check(cap < 64, f"auto cap {cap} fits RLIMIT_NOFILE 64")
        finally:
            close_all(socks)
        exits_clean(s)
    finally:
        s.kill()


# ---- long run -------------------------------------------------------------------

LONGRUN_TARGET = 1_000_000
# The sanitizer build is about 2.5x slower (two cores, wrk on the same
# cores: ~68k/s plain, ~29k/s with ASan+UBSan, which still reaches a
# million in ~35 s); shared CI runners vary, so it must serve at least this.
LONGRUN_FLOOR_ASAN = 200_000

@suite.test
def long_run_flat_rss_and_fds():
    """R2: a million requests (at least LONGRUN_FLOOR under sanitizers)
    within EVAPI_LONGRUN_SECONDS (45 at most): RSS and open descriptors end
    where they started"""
    wrk = shutil.which("wrk")
    if wrk is None:
        skip("wrk is not installed (scripts/deps.sh bench)")
    budget = min(int(os.environ.get("EVAPI_LONGRUN_SECONDS", "45")), 45)
    floor = LONGRUN_FLOOR_ASAN if ASAN else LONGRUN_TARGET
    with Server(suite, API_PLUGINS="health", LOG_LEVEL="warn") as s:
        s.start()
        url = f"http://127.0.0.1:{s.port}/health"
        run_wrk(wrk, url, 2)  # warm-up: caches and pools fill once
        time.sleep(0.5)
        rss0, fds0 = rss_kib(s.proc.pid), fd_count(s.proc.pid)
        done, t0 = 0, time.monotonic()
        # Slices of 5 s: stop at a million, or when the budget is spent.
        while done < LONGRUN_TARGET and time.monotonic() - t0 < budget - 5:
            done += run_wrk(wrk, url, 5)
        took = time.monotonic() - t0
        check(wait_for(lambda: fd_count(s.proc.pid) <= fds0, 2.0), "fds settle")
        rss1, fds1 = rss_kib(s.proc.pid), fd_count(s.proc.pid)
        print(f"# {done} requests in {took:.1f}s; RSS {rss0} -> {rss1} KiB; "
              f"fds {fds0} -> {fds1}")
        check(done >= floor, f"{done} requests in {took:.1f}s, want >= {floor}")
        eq(fds1, fds0, "open descriptors")
        check(ASAN or rss1 - rss0 < 2048, f"RSS grew {rss1 - rss0} KiB")
        exits_clean(s)


@suite.test
def servers_exit_clean():
    """After all of the above, both shared servers drain and exit 0, with
    nothing from the sanitizers"""
    no_smuggled_request_reached_a_handler()
    exits_clean(srv)
    exits_clean(slow)


def run_wrk(wrk, url, seconds):
    """Requests one wrk run made; any error or non-2xx fails the test."""
    r = subprocess.run([wrk, "-t1", "-c16", f"-d{seconds}s", url],
                       capture_output=True, text=True, timeout=seconds + 30)
    check(r.returncode == 0 and "Non-2xx" not in r.stdout
          and "Socket errors" not in r.stdout, r.stdout + r.stderr)
    return wrk_requests(r.stdout)


def wrk_requests(out):
    for line in out.splitlines():
        if "requests in" in line:
            return int(line.split()[0])
    return 0


suite.run()
