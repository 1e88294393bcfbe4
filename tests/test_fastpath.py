#!/usr/bin/env python3
"""The fast path: request heads answered from the input callback, and a new
connection's first request, when it closes the connection, before evhttp
sees the connection at all.

Both paths must send the same bytes; requests outside the subset, and all
requests while the access log is on, take evhttp's path; a reply the
socket cannot take at once is finished before the next request is read.
The "stopped" log line counts the requests the fast path answered, and of
those the ones answered at accept, which tells the tests which path a
request took."""

import os
import re
import signal
import socket
import time

import evapitest as et
from evapitest import Suite, Server, check, eq, parse_response, raw_exchange
from fixtures import build, copy_builtins, plugin_dir

STATIC = os.environ.get("EVAPI_STATIC") == "yes"
# The static build has no loader: the cases with a fixture plugin say SKIP
# there (and run in the dynamic and sanitizer builds, where CI requires them).
suite = Suite("fastpath", required=not STATIC)

fast = Server(suite, API_PLUGINS="health,version", LOG_LEVEL="info",
              WORKERS="1")
slow = Server(suite, API_PLUGINS="health,version", LOG_LEVEL="info",
              WORKERS="1", ACCESS_LOG="on")
fast.start()
slow.start()

# Each is one request head; some are in the fast path's subset, some not.
HEADS = [
    b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n",
    b"HEAD /health HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /version HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    b"HEAD /version HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    b"GET /health HTTP/1.0\r\n\r\n",
    b"HEAD /health HTTP/1.0\r\n\r\n",
    b"GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    b"HEAD /health HTTP/1.0\r\nConnection: Keep-Alive\r\nHost: a\r\n\r\n",
    b"GET /health?probe=1 HTTP/1.1\r\nHost: a\r\nUser-Agent: kube-probe/1.30\r\n"
    b"Accept: */*\r\n\r\n",
    b"GET /health HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, close\r\n\r\n",
    b"GET /nope HTTP/1.1\r\nHost: a\r\n\r\n",
    b"POST /health HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
    b"GET /health HTTP/1.1\r\n\r\n",
    b"GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    b"GET /health HTTP/1.1\r\nHost: a\r\nX-A: a\r\n b\r\n\r\n",
    b"GET /he%6clth HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /health HTTP/1.1\r\nHost: a\r\nConnection:\tclose\r\n\r\n",
    b"GET /health HTTP/1.0\r\nConnection:\tkeep-alive\r\n\r\n",
]
IN_SUBSET = 9  # the first nine


def exchange(port, head):
    data = raw_exchange(port, head, timeout=0.3)
    return re.sub(rb"Date: [^\r]*", b"Date: -", data)


def fast_count(server):
    """Stop SERVER and return the fast_path_requests of its last line."""
    server.stop()
    for rec in reversed(server.log_records()):
        if rec.get("msg") == "stopped":
            return int(rec["fast_path_requests"])
    raise AssertionError("no stopped line: " + server.stdout()[-500:])


def path_counts(server):
    """Stop SERVER: (fast_path_requests, fast_path_at_accept) of its last line."""
    server.stop()
    for rec in reversed(server.log_records()):
        if rec.get("msg") == "stopped":
            return int(rec["fast_path_requests"]), int(rec["fast_path_at_accept"])
    raise AssertionError("no stopped line: " + server.stdout()[-500:])


def until_eof(s):
    """Everything S receives until the server closes (socket timeout: 3 s)."""
    data = b""
    while True:
        b = s.recv(65536)
        if not b:
            return data
        data += b


def keepalive(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=3)
    return s


def complete(data, head):
    """Does DATA hold a whole response (head, and body unless HEAD)?"""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return False
    m = re.search(rb"\r\nContent-Length: *(\d+)", data[:end + 2], re.I)
    return head or m is None or len(data) >= end + 4 + int(m.group(1))


def read_response(s, head=False):
    """One response from S, however it is cut into reads."""
    data = b""
    while not complete(data, head):
        b = s.recv(65536)
        if not b:
            break
        data += b
    return parse_response(data, head=head)


@suite.test
def same_bytes_both_paths():
    """Both paths send the same bytes (Date aside), in and out of the subset"""
    for head in HEADS:
        a, b = exchange(fast.port, head), exchange(slow.port, head)
        eq(a, b, f"for {head!r}")
        check(a.startswith(b"HTTP/1."), (head, a))


@suite.test
def keepalive_many():
    """500 requests on one kept-alive connection, one read each: all 200"""
    with keepalive(fast.port) as s:
        for i in range(500):
            s.sendall(b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n")
            r, rest = read_response(s)
            eq(r.status, 200, f"request {i}")
            eq(r.body, b'{"status":"ok"}\n')
            eq(rest, b"")


@suite.test
def pipelined_and_split():
    """Pipelined heads and a head cut in two are answered in order"""
    with keepalive(fast.port) as s:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n"
                  b"GET /version HTTP/1.1\r\nHost: a\r\n\r\n")
        r1, rest = read_response(s)
        data = rest
        while b'"libraries"' not in data:
            data += s.recv(65536)
        r2, _ = parse_response(data)
        eq((r1.status, r2.status), (200, 200))
        check(r2.json()["name"] == "evapi", r2.body)
        s.sendall(b"GET /health HTTP/1.1\r\nHo")
        time.sleep(0.1)
        s.sendall(b"st: a\r\n\r\n")
        r3, _ = read_response(s)
        eq(r3.status, 200)
        # And the fast path again on the same connection.
        s.sendall(b"HEAD /health HTTP/1.1\r\nHost: a\r\n\r\n")
        r4, rest = read_response(s, head=True)
        eq((r4.status, r4.header("Content-Length"), rest), (200, "16", b""))


@suite.test
def close_and_http10():
    """Connection: close and HTTP/1.0 end the connection after the reply"""
    for head in (b"GET /health HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                 b"GET /health HTTP/1.0\r\n\r\n"):
        with keepalive(fast.port) as s:
            s.sendall(head)
            data = b""
            while True:
                b = s.recv(65536)
                if not b:
                    break
                data += b
            r, rest = parse_response(data)
            eq((r.status, rest), (200, b""), head)
    with keepalive(fast.port) as s:
        s.sendall(b"GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        r, _ = read_response(s)
        eq(r.header("Connection"), "keep-alive")
        s.sendall(b"GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        r, _ = read_response(s)
        eq(r.status, 200, "the 1.0 keep-alive connection stayed open")


@suite.test
def counted_per_path():
    """The fast path answered the subset; with ACCESS_LOG=on, evhttp did all"""
    srv = Server(suite, API_PLUGINS="health,version", LOG_LEVEL="info",
                 WORKERS="1").start()
    for head in HEADS:
        exchange(srv.port, head)
    # The start-up wait's one answered GET /health was fast too.
    n = fast_count(srv) - 1
    eq(n, IN_SUBSET, "requests the fast path answered")
    srv = Server(suite, API_PLUGINS="health,version", LOG_LEVEL="info",
                 WORKERS="1", ACCESS_LOG="on").start()
    for head in HEADS:
        exchange(srv.port, head)
    eq(fast_count(srv), 0, "with the access log on")
    lines = [r for r in srv.log_records() if r.get("msg") == "request"]
    check(len(lines) >= len(HEADS), "every request was logged")


@suite.test
def debug_log_takes_slow_path():
    """LOG_LEVEL=debug logs every request: the fast path stands aside"""
    srv = Server(suite, API_PLUGINS="health", LOG_LEVEL="debug",
                 WORKERS="1").start()
    eq(srv.get("/health").status, 200)
    eq(fast_count(srv), 0)


@suite.test
def drain_closes():
    """While draining, answers carry Connection: close (evhttp's path)"""
    srv = Server(suite, API_PLUGINS="health", LOG_LEVEL="info", WORKERS="1",
                 DRAIN_DELAY="1").start()
    with keepalive(srv.port) as s:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n")
        r, _ = read_response(s)
        eq(r.header("Connection"), None)
        srv.signal(signal.SIGTERM)
        time.sleep(0.3)
        s.sendall(b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n")
        r, _ = read_response(s)
        eq((r.status, r.header("Connection")), (200, "close"))
    srv.wait()


# --- a new connection's first request, before evhttp sees the connection --

CLOSE_HEADS = [
    b"GET /health HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    b"HEAD /version HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    b"GET /version HTTP/1.0\r\n\r\n",
    b"HEAD /health HTTP/1.0\r\nUser-Agent: probe\r\n\r\n",
]


@suite.test
def close_request_answered_at_accept():
    """A new connection's request that closes it is answered before evhttp
    sees the connection: same bytes, then EOF"""
    srv = Server(suite, API_PLUGINS="health,version", LOG_LEVEL="info",
                 WORKERS="1").start()
    for head in CLOSE_HEADS:
        for _ in range(3):
            a, b = exchange(srv.port, head), exchange(slow.port, head)
            eq(a, b, head)
            with keepalive(srv.port) as s:
                s.sendall(head)
                r, rest = parse_response(until_eof(s), head=head.startswith(b"HEAD"))
                eq((r.status, rest), (200, b""), head)
    # 2 x 12 requests, and the start-up wait's GET /health (a close one).
    eq(path_counts(srv), (25, 25), "(fast path, of which at accept)")


@suite.test
def others_reach_evhttp_with_their_bytes():
    """A new connection's other first requests reach evhttp whole: keep-alive
    ones (fast path), split or slow heads, 404, 405; an empty one is closed"""
    srv = Server(suite, API_PLUGINS="health,version", LOG_LEVEL="info",
                 WORKERS="1").start()
    with keepalive(srv.port) as s:
        for _ in range(2):
            s.sendall(b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n")
            r, _ = read_response(s)
            eq(r.status, 200, "keep-alive, on the same connection")
    for head, status in (
            (b"GET /nope HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 404),
            (b"POST /health HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n"
             b"Connection: close\r\n\r\n", 405),
            (b"GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close"
             b"\r\n\r\n", 400)):
        a, b = exchange(srv.port, head), exchange(slow.port, head)
        eq(a, b, head)
        check(a.startswith(b"HTTP/1.1 %d " % status), a[:40])
    # A head in two parts, the second after 50 ms.
    with keepalive(srv.port) as s:
        s.sendall(b"GET /hea")
        time.sleep(0.05)
        s.sendall(b"lth HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        r, rest = parse_response(until_eof(s))
        eq((r.status, rest), (200, b""), "split head")
    # Nothing for longer than the wait before evhttp takes the connection.
    with keepalive(srv.port) as s:
        time.sleep(0.3)
        s.sendall(CLOSE_HEADS[0])
        r, rest = parse_response(until_eof(s))
        eq((r.status, rest), (200, b""), "slow first byte")
    # Connections that leave without a byte cost nothing lasting.
    for _ in range(5):
        socket.create_connection(("127.0.0.1", srv.port)).close()
    eq(srv.get("/health").status, 200)
    # Fast: the two keep-alive requests, the slow one, the last GET and the
    # start-up wait's; at accept only the last two.
    eq(path_counts(srv), (5, 2), "(fast path, of which at accept)")


@suite.test
def handed_over_and_closed_at_once_leaks_nothing():
    """Requests evhttp answers and closes as soon as it gets them (404, 405,
    HTTP/1.0, 400) leave no descriptor behind"""
    srv = Server(suite, API_PLUGINS="health,version", LOG_LEVEL="info",
                 WORKERS="1").start()
    heads = [b"GET /nope HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
             b"GET /nope HTTP/1.0\r\n\r\n",
             b"POST /health HTTP/1.0\r\nContent-Length: 0\r\n\r\n",
             b"GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"]
    pid = srv.proc.pid

    def settled():
        """The descriptor count once the last closes have run (a closed
        connection's descriptor goes a loop turn or two after its EOF)."""
        low = et.fd_count(pid)
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            time.sleep(0.05)
            low = min(low, et.fd_count(pid))
        return low

    exchange(srv.port, heads[0])
    before = settled()
    for i in range(60):
        with keepalive(srv.port) as s:
            s.sendall(heads[i % len(heads)])
            data = until_eof(s)
            check(data.startswith(b"HTTP/1."), data[:40])
    after = settled()
    # A leak keeps one descriptor per request: dozens, not one.
    check(after <= before, f"descriptors: {before} before, {after} after "
          "60 such requests")
    eq(path_counts(srv)[1], 1, "only the start-up wait's request at accept")


@suite.test
def drain_hands_over_waiting_connections():
    """A connection still waiting for its first bytes when the drain closes
    the listener goes to evhttp: answered or closed, never left hanging"""
    srv = Server(suite, API_PLUGINS="health", LOG_LEVEL="info",
                 WORKERS="1").start()
    with keepalive(srv.port) as s:
        srv.signal(signal.SIGTERM)
        time.sleep(0.02)
        s.sendall(CLOSE_HEADS[0])
        data = until_eof(s)
    if data:
        r, rest = parse_response(data)
        check(r.status in (200, 503), data[:60])
        eq((r.header("Connection"), rest), ("close", b""))
    eq(srv.wait(), 0, "exit status")


def big_server(extra_env=None):
    if STATIC:
        et.skip("the fixture plugin needs the dynamic build")
    d = plugin_dir(suite)
    build("big.c", os.path.join(d, "big.so"))
    copy_builtins(d)
    env = dict(API_PLUGINS="health,big", API_PLUGIN_DIR=d, LOG_LEVEL="info",
               WORKERS="1", IDLE_TIMEOUT="2")
    env.update(extra_env or {})
    return Server(suite, **env).start()


def read_exact(s, n):
    data = b""
    while len(data) < n:
        b = s.recv(min(1 << 20, n - len(data)))
        if not b:
            break
        data += b
    return data


BIG = (8 << 20) + 1


@suite.test
def big_reply_then_next():
    """A reply too big for one write is finished before the next request"""
    srv = big_server()
    with keepalive(srv.port) as s:
        s.sendall(b"GET /big HTTP/1.1\r\nHost: a\r\n\r\n")
        time.sleep(0.2)  # the server's write stops short: nobody reads
        # A request sent now waits behind the reply, not inside it.
        s.sendall(b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            data += s.recv(4096)
        head, _, body = data.partition(b"\r\n\r\n")
        check(b"Content-Length: %d" % BIG in head, head)
        body += read_exact(s, BIG - len(body) + 1)
        eq(len(body), BIG + 1, "the reply then exactly one byte more")
        check(body[:BIG].endswith(b'"}\n'), body[BIG - 8:BIG])
        rest = body[BIG:] + s.recv(4096)
        while b'{"status":"ok"}\n' not in rest:
            rest += s.recv(4096)
        r, _ = parse_response(rest)
        eq(r.status, 200, "the next request, answered after the big one")
    check(fast_count(srv) >= 2, "both on the fast path")


@suite.test
def big_reply_close():
    """A big reply with Connection: close ends with the whole body, then EOF"""
    srv = big_server()
    with keepalive(srv.port) as s:
        s.sendall(b"GET /big HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        time.sleep(0.2)
        s.settimeout(5)
        data = b""
        while True:
            b = s.recv(1 << 20)
            if not b:
                break
            data += b
        head, _, body = data.partition(b"\r\n\r\n")
        check(b"Connection: close" in head, head)
        eq(len(body), BIG)
    srv.stop()


@suite.test
def big_reply_unread_does_not_stall():
    """A client that never reads a big reply holds only its own connection"""
    srv = big_server()
    s = keepalive(srv.port)
    s.sendall(b"GET /big HTTP/1.1\r\nHost: a\r\n\r\n")
    time.sleep(0.2)
    t0 = time.monotonic()
    eq(srv.get("/health").status, 200)
    check(time.monotonic() - t0 < 1, "answered while the big reply waits")
    # IDLE_TIMEOUT=2: the stalled write times out and the server closes;
    # what the kernel had buffered still arrives, then the end.
    time.sleep(3)
    s.settimeout(5)
    got, end = 0, None
    while end is None:
        try:
            b = s.recv(1 << 20)
        except ConnectionResetError:
            end = "reset"
            break
        if not b:
            end = "eof"
        got += len(b)
    check(got < BIG, f"closed before the whole reply ({got} bytes, {end})")
    s.close()
    srv.stop()


@suite.test
def probe_port_only_probes():
    """On PROBE_PORT the fast path answers the probes and nothing else"""
    if STATIC:
        et.skip("the fixture plugin needs the dynamic build")
    probe = et.free_port()
    srv = big_server({"PROBE_PORT": str(probe)})
    r, _ = parse_response(raw_exchange(
        probe, b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n", timeout=0.5))
    eq(r.status, 200)
    r, _ = parse_response(raw_exchange(
        probe, b"GET /big HTTP/1.1\r\nHost: a\r\n\r\n", timeout=0.5))
    eq(r.status, 404)
    srv.stop()


@suite.test
def route_answer_misuse():
    """route_answer on a route the plugin does not own: exit 78, named"""
    if STATIC:
        et.skip("the fixture plugin needs the dynamic build")
    d = plugin_dir(suite)
    build("big.c", os.path.join(d, "big.so"), defines=["BAD_ANSWER"])
    copy_builtins(d)
    r = et.run_evapi([], et.base_env(PORT=et.free_port(),
                                     API_PLUGINS="health,big",
                                     API_PLUGIN_DIR=d), timeout=10)
    eq(r.returncode, 78, r.stderr)
    check('route_answer for "/health": not a route this plugin registered'
          in r.stderr, r.stderr)


if __name__ == "__main__":
    suite.run()
