#!/usr/bin/env python3
"""The three ways a request is read and answered, and that they agree.

- direct: evapi reads the request from the gate and answers it (every
  whole request on a connection evhttp has);
- at accept: a new connection's first request, when it closes the
  connection, is answered before evhttp sees the connection;
- evhttp: a request whose body spans reads, or is chunked, is read by
  evhttp and then answered by evapi.

Every path must send the same bytes; a reply the socket cannot take at
once is finished before the next request is read; a deferred answer keeps
the connection's order. The "stopped" log line counts the requests of each
path, which tells the tests which path a request took."""

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
suite = Suite("paths", required=not STATIC)

srv = Server(suite, API_PLUGINS="health,version", LOG_LEVEL="info", WORKERS="1")
srv.start()


def norm(data):
    """DATA with what differs between any two answers blanked: the date,
    the request id (header and error body)."""
    data = re.sub(rb"Date: [^\r]*", b"Date: -", data)
    data = re.sub(rb"X-Request-Id: [^\r]*", b"X-Request-Id: -", data)
    return re.sub(rb'"request_id":"[^"]*"', b'"request_id":"-"', data)


def until_eof(s):
    """Everything S receives until the server closes (socket timeout: 3 s)."""
    data = b""
    while True:
        b = s.recv(65536)
        if not b:
            return data
        data += b


def conn(port):
    return socket.create_connection(("127.0.0.1", port), timeout=3)


def complete(data, head):
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return False
    m = re.search(rb"\r\nContent-Length: *(\d+)", data[:end + 2], re.I)
    return head or m is None or len(data) >= end + 4 + int(m.group(1))


_leftover = {}


def read_response(s, head=False):
    """One response from S, however it is cut into reads; what follows it
    is kept for the next call."""
    data = _leftover.pop(s.fileno(), b"")
    while not complete(data, head):
        b = s.recv(65536)
        if not b:
            break
        data += b
    r, rest = parse_response(data, head=head)
    if rest:
        _leftover[s.fileno()] = rest
    return r, rest


def counts(server):
    """Stop SERVER: (direct, at accept, evhttp) of its "stopped" line."""
    server.stop()
    for rec in reversed(server.log_records()):
        if rec.get("msg") == "stopped":
            return (int(rec["requests_direct"]), int(rec["requests_at_accept"]),
                    int(rec["requests_evhttp"]))
    raise AssertionError("no stopped line: " + server.stdout()[-500:])


def read_quiet(s, quiet=0.5):
    """Everything S sends until it closes or is quiet for QUIET seconds."""
    s.settimeout(quiet)
    data = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
    except socket.timeout:
        pass
    return data


def direct(port, req):
    """REQ on a connection evhttp already has (a first request adopted it)."""
    with conn(port) as s:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n")
        read_response(s)
        s.sendall(req)
        return norm(read_quiet(s))


def at_accept(port, req):
    return norm(raw_exchange(port, req, timeout=0.5))


def by_evhttp(port, head, body):
    """HEAD first, BODY 100 ms later: the body spans reads."""
    with conn(port) as s:
        s.sendall(head)
        time.sleep(0.1)
        s.sendall(body)
        return norm(read_quiet(s))


CLOSE = b"Connection: close\r\n"
SAME = [
    b"GET /health HTTP/1.1\r\nHost: a\r\n" + CLOSE + b"\r\n",
    b"HEAD /version HTTP/1.1\r\nHost: a\r\n" + CLOSE + b"\r\n",
    b"GET /health HTTP/1.0\r\n\r\n",
    b"GET http://a/health?x=1 HTTP/1.1\r\nHost: a\r\n" + CLOSE + b"\r\n",
    b"GET /nope HTTP/1.1\r\nHost: a\r\n" + CLOSE + b"\r\n",
    b"DELETE /health HTTP/1.1\r\nHost: a\r\n" + CLOSE + b"\r\n",
    b"OPTIONS /health HTTP/1.1\r\nHost: a\r\n" + CLOSE + b"\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: a\r\n" + CLOSE + b"\r\n",
    b"GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    b"GET /health HTTP/1.7\r\nHost: a\r\n\r\n",
    b"GET /health HTTP/1.1\nHost: a\n\n",
    b"FOO /health HTTP/1.1\r\nHost: a\r\n\r\n",
]


@suite.test
def same_bytes_every_path():
    """Direct and at accept send the same bytes (Date aside), answers and
    refusals alike; a body read by evhttp gets the same answer as one read
    directly, chunked or not"""
    for req in SAME:
        a, d = at_accept(srv.port, req), direct(srv.port, req)
        # The direct copy follows the adopting request's answer.
        check(d.endswith(a) and a.startswith(b"HTTP/1."), (req, a, d))
    post = b"POST /health HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n" + CLOSE + b"\r\n"
    whole = at_accept(srv.port, post + b"hello")
    split = by_evhttp(srv.port, post, b"hello")
    chunked = by_evhttp(srv.port, b"POST /health HTTP/1.1\r\nHost: a\r\n"
                        b"Transfer-Encoding: chunked\r\n" + CLOSE + b"\r\n",
                        b"5\r\nhello\r\n0\r\n\r\n")
    eq(split, whole, "a body over two reads")
    eq(chunked, whole, "a chunked body")
    check(whole.startswith(b"HTTP/1.1 405 "), whole[:40])


@suite.test
def keepalive_many():
    """500 requests on one kept-alive connection, one read each: all 200"""
    with conn(srv.port) as s:
        for i in range(500):
            s.sendall(b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n")
            r, rest = read_response(s)
            eq(r.status, 200, f"request {i}")
            eq(r.body, b'{"status":"ok"}\n')
            eq(rest, b"")


@suite.test
def pipelined_and_split():
    """Pipelined heads, a head cut in two, a body cut in two, and a chunked
    body are answered in order on one connection"""
    with conn(srv.port) as s:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n"
                  b"GET /version HTTP/1.1\r\nHost: a\r\n\r\n")
        r1, _ = read_response(s)
        r2, _ = read_response(s)
        eq((r1.status, r2.status), (200, 200))
        check(r2.json()["name"] == "evapi", r2.body)
        s.sendall(b"GET /health HTTP/1.1\r\nHo")
        time.sleep(0.1)
        s.sendall(b"st: a\r\n\r\n")
        eq(read_response(s)[0].status, 200, "split head")
        s.sendall(b"POST /health HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nab")
        time.sleep(0.1)
        s.sendall(b"c")
        eq(read_response(s)[0].status, 405, "split body (evhttp)")
        s.sendall(b"POST /health HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: "
                  b"chunked\r\n\r\n2\r\nab\r\n0\r\n\r\nGET /health HTTP/1.1\r\n"
                  b"Host: a\r\n\r\n")
        eq(read_response(s)[0].status, 405, "chunked (evhttp)")
        eq(read_response(s)[0].status, 200, "pipelined behind a chunked one")
        s.sendall(b"HEAD /health HTTP/1.1\r\nHost: a\r\n\r\n")
        r, rest = read_response(s, head=True)
        eq((r.status, r.header("Content-Length"), rest), (200, "16", b""))


@suite.test
def close_and_http10():
    """Connection: close and HTTP/1.0 end the connection after the reply;
    HTTP/1.0 keep-alive keeps it"""
    for head in (b"GET /health HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                 b"GET /health HTTP/1.0\r\n\r\n"):
        with conn(srv.port) as s:
            s.sendall(head)
            r, rest = parse_response(until_eof(s))
            eq((r.status, rest), (200, b""), head)
    with conn(srv.port) as s:
        for _ in range(2):
            s.sendall(b"GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            r, _ = read_response(s)
            eq((r.status, r.header("Connection")), (200, "keep-alive"))


@suite.test
def counted_per_path():
    """Each request is counted on the path it took"""
    s = Server(suite, API_PLUGINS="health,version", LOG_LEVEL="info",
               WORKERS="1").start()
    # at accept: the start-up wait's, and two closing requests
    for _ in range(2):
        raw_exchange(s.port, SAME[0], timeout=0.5)
    # direct: three on a kept-alive connection (the first adopts it)
    with conn(s.port) as c:
        for _ in range(3):
            c.sendall(b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n")
            read_response(c)
        # evhttp: a body over two reads, a chunked body
        c.sendall(b"POST /health HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\na")
        time.sleep(0.1)
        c.sendall(b"b")
        read_response(c)
        c.sendall(b"POST /health HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: "
                  b"chunked\r\n\r\n0\r\n\r\n")
        read_response(c)
        # and direct again on the same connection
        c.sendall(b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n")
        read_response(c)
    eq(counts(s), (4, 3, 2), "(direct, at accept, evhttp)")


@suite.test
def logging_takes_every_path():
    """With ACCESS_LOG=on every path logs its request, with the route"""
    s = Server(suite, API_PLUGINS="health", LOG_LEVEL="info", WORKERS="1",
               ACCESS_LOG="on", ACCESS_LOG_PROBES="on").start()
    raw_exchange(s.port, SAME[0], timeout=0.5)
    direct(s.port, b"GET /health?d HTTP/1.1\r\nHost: a\r\n\r\n")
    by_evhttp(s.port, b"POST /health?e HTTP/1.1\r\nHost: a\r\nContent-Length: 1"
              b"\r\n\r\n", b"x")
    lines = [r for r in s.log_records() if r.get("msg") == "request"]
    paths = [r["path"] for r in lines]
    check("/health?d" in paths and "/health?e" in paths, paths)
    check(all(r["route"] in ("/health", "") for r in lines), lines)
    eq(counts(s)[2], 1, "the POST went through evhttp")
    # Without ACCESS_LOG_PROBES, probe routes are left out.
    s = Server(suite, API_PLUGINS="health", LOG_LEVEL="info", WORKERS="1",
               ACCESS_LOG="on").start()
    direct(s.port, b"GET /health?d HTTP/1.1\r\nHost: a\r\n\r\n")
    direct(s.port, b"GET /nope HTTP/1.1\r\nHost: a\r\n\r\n")
    paths = [r["path"] for r in s.log_records() if r.get("msg") == "request"]
    eq(paths, ["/nope"], "only the non-probe request")
    s.stop()


@suite.test
def drain_closes():
    """While draining, answers carry Connection: close, then the connection
    ends"""
    s = Server(suite, API_PLUGINS="health", LOG_LEVEL="info", WORKERS="1",
               DRAIN_DELAY="1").start()
    with conn(s.port) as c:
        c.sendall(b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n")
        r, _ = read_response(c)
        eq(r.header("Connection"), None)
        s.signal(signal.SIGTERM)
        time.sleep(0.3)
        c.sendall(b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n")
        r, rest = parse_response(until_eof(c))
        eq((r.status, r.header("Connection"), rest), (200, "close", b""))
    eq(s.wait(), 0)


@suite.test
def others_reach_evhttp_with_their_bytes():
    """A new connection's other first requests reach evhttp whole: split or
    slow heads are answered; connections that close without a byte cost
    nothing"""
    s = Server(suite, API_PLUGINS="health,version", LOG_LEVEL="info",
               WORKERS="1").start()
    with conn(s.port) as c:
        c.sendall(b"GET /hea")
        time.sleep(0.05)
        c.sendall(b"lth HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        r, rest = parse_response(until_eof(c))
        eq((r.status, rest), (200, b""), "split head")
    with conn(s.port) as c:
        time.sleep(0.3)  # longer than the wait before evhttp takes it
        c.sendall(SAME[0])
        r, rest = parse_response(until_eof(c))
        eq((r.status, rest), (200, b""), "slow first byte")
    for _ in range(5):
        socket.create_connection(("127.0.0.1", s.port)).close()
    eq(s.get("/health").status, 200)
    # direct: the split head and the slow one; at accept: the start-up
    # wait's and the last GET.
    eq(counts(s), (2, 2, 0))


@suite.test
def closed_at_once_leaks_nothing():
    """Requests answered and closed as soon as they arrive (404, 405,
    HTTP/1.0, refusals) leave no descriptor behind"""
    s = Server(suite, API_PLUGINS="health,version", LOG_LEVEL="info",
               WORKERS="1").start()
    heads = [b"GET /nope HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
             b"GET /nope HTTP/1.0\r\n\r\n",
             b"POST /health HTTP/1.0\r\nContent-Length: 0\r\n\r\n",
             b"GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
             b"POST /health HTTP/1.1\r\nHost: a\r\nContent-Length: 9\r\n\r\nab"]
    pid = s.proc.pid

    def settled():
        """The descriptor count once the last closes have run."""
        low = et.fd_count(pid)
        deadline = time.monotonic() + 0.6
        while time.monotonic() < deadline:
            time.sleep(0.05)
            low = min(low, et.fd_count(pid))
        return low

    raw_exchange(s.port, heads[0], timeout=0.5)
    before = settled()
    for i in range(60):
        with conn(s.port) as c:
            c.sendall(heads[i % len(heads)])
            if i % len(heads) == 4:
                c.shutdown(socket.SHUT_WR)  # the body never comes
            data = until_eof(c)
            check(i % len(heads) == 4 or data.startswith(b"HTTP/1."), data[:40])
    after = settled()
    check(after <= before, f"descriptors: {before} before, {after} after "
          "60 such requests")
    s.stop()


@suite.test
def drain_answers_waiting_connections():
    """A connection waiting for its first bytes when the drain starts is
    answered (with Connection: close) or closed, never left hanging"""
    s = Server(suite, API_PLUGINS="health", LOG_LEVEL="info", WORKERS="1").start()
    with conn(s.port) as c:
        s.signal(signal.SIGTERM)
        time.sleep(0.02)
        c.sendall(SAME[0])
        data = until_eof(c)
    if data:
        r, rest = parse_response(data)
        check(r.status in (200, 503), data[:60])
        eq((r.header("Connection"), rest), ("close", b""))
    eq(s.wait(), 0, "exit status")


# ---- fixture plugins: big replies and deferred answers --------------------

def fixture_server(*fixtures, **extra):
    if STATIC:
        et.skip("the fixture plugins need the dynamic build")
    d = plugin_dir(suite)
    for f in fixtures:
        build(f"{f}.c", os.path.join(d, f"{f}.so"))
    copy_builtins(d)
    env = dict(API_PLUGINS=",".join(("health",) + fixtures), API_PLUGIN_DIR=d,
               LOG_LEVEL="info", WORKERS="1", IDLE_TIMEOUT="2")
    env.update(extra)
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
    s = fixture_server("big")
    with conn(s.port) as c:
        c.sendall(b"GET /big HTTP/1.1\r\nHost: a\r\n\r\n")
        time.sleep(0.2)  # the server's write stops short: nobody reads
        c.sendall(b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            data += c.recv(4096)
        head, _, body = data.partition(b"\r\n\r\n")
        check(b"Content-Length: %d" % BIG in head, head)
        body += read_exact(c, BIG - len(body) + 1)
        eq(len(body), BIG + 1, "the reply then exactly one byte more")
        check(body[:BIG].endswith(b'"}\n'), body[BIG - 8:BIG])
        rest = body[BIG:]
        while b'{"status":"ok"}\n' not in rest:
            rest += c.recv(4096)
        eq(parse_response(rest)[0].status, 200, "the next, after the big one")
    s.stop()


@suite.test
def big_reply_close_and_at_accept():
    """A big reply with Connection: close ends with the whole body, then EOF,
    also as a new connection's first request"""
    s = fixture_server("big")
    for first in (True, False):
        with conn(s.port) as c:
            if not first:
                c.sendall(b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n")
                read_response(c)
            c.sendall(b"GET /big HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            time.sleep(0.2)
            c.settimeout(5)
            head, _, body = until_eof(c).partition(b"\r\n\r\n")
            check(b"Connection: close" in head, head)
            eq(len(body), BIG, f"first={first}")
    s.stop()


@suite.test
def big_reply_unread_does_not_stall():
    """A client that never reads a big reply holds only its own connection"""
    s = fixture_server("big")
    c = conn(s.port)
    c.sendall(b"GET /big HTTP/1.1\r\nHost: a\r\n\r\n")
    time.sleep(0.2)
    t0 = time.monotonic()
    eq(s.get("/health").status, 200)
    check(time.monotonic() - t0 < 1, "answered while the big reply waits")
    # IDLE_TIMEOUT=2: the stalled write times out and the server closes.
    time.sleep(3)
    c.settimeout(5)
    got, end = 0, None
    while end is None:
        try:
            b = c.recv(1 << 20)
        except ConnectionResetError:
            end = "reset"
            break
        if not b:
            end = "eof"
        got += len(b)
    check(got < BIG, f"closed before the whole reply ({got} bytes, {end})")
    c.close()
    s.stop()


@suite.test
def deferred_keeps_order():
    """A deferred answer (a timer) on each path keeps the connection's order:
    the request pipelined behind it is answered after it"""
    s = fixture_server("slow")
    with conn(s.port) as c:
        t0 = time.monotonic()
        c.sendall(b"GET /slow?ms=300 HTTP/1.1\r\nHost: a\r\n\r\n"
                  b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n")
        r1, _ = read_response(c)
        r2, _ = read_response(c)
        took = time.monotonic() - t0
        eq((r1.status, r2.status), (200, 200))
        eq(r1.json(), {"slow": True}, "the slow one first")
        check(took >= 0.28, f"answered after the timer ({took:.3f}s)")
        # The evhttp path: a body over two reads, then deferred.
        c.sendall(b"GET /slow?ms=100 HTTP/1.1\r\nHost: a\r\nContent-Length: 2"
                  b"\r\n\r\nx")
        time.sleep(0.05)
        c.sendall(b"y")
        eq(read_response(c)[0].json(), {"slow": True}, "evhttp path")
    # At accept, a closing request that defers: the connection is handed
    # over and answered later.
    r = et.http(s.port, "/slow?ms=100")
    eq((r.status, r.header("Connection")), (200, "close"))
    # Other requests on the same worker are answered meanwhile.
    with conn(s.port) as slowc:
        slowc.sendall(b"GET /slow?ms=500 HTTP/1.1\r\nHost: a\r\n\r\n")
        t0 = time.monotonic()
        eq(s.get("/health").status, 200)
        check(time.monotonic() - t0 < 0.2, "not blocked by the sleeper")
        eq(read_response(slowc)[0].status, 200)
    s.stop()


@suite.test
def client_gone_while_deferred():
    """A client that leaves while its request waits frees its connection on
    every path; the server serves on"""
    s = fixture_server("slow")
    pid = s.proc.pid
    base = et.fd_count(pid)
    for split in (False, True):
        for _ in range(10):
            c = conn(s.port)
            if split:
                c.sendall(b"GET /slow?ms=400 HTTP/1.1\r\nHost: a\r\n"
                          b"Content-Length: 2\r\n\r\nx")
                time.sleep(0.02)
                c.sendall(b"y")
            else:
                c.sendall(b"GET /slow?ms=400 HTTP/1.1\r\nHost: a\r\n\r\n")
            time.sleep(0.05)
            c.close()
    time.sleep(0.8)
    eq(s.get("/health").status, 200)
    check(et.fd_count(pid) <= base + 1, f"descriptors {base} -> {et.fd_count(pid)}")
    s.stop()


@suite.test
def probe_port_only_probes():
    """On PROBE_PORT only the probe routes answer, on every path"""
    probe = et.free_port()
    s = fixture_server("big", PROBE_PORT=str(probe))
    r, _ = parse_response(raw_exchange(
        probe, b"GET /health HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        timeout=0.5))
    eq(r.status, 200)
    r, _ = parse_response(raw_exchange(
        probe, b"GET /big HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        timeout=0.5))
    eq(r.status, 404)
    d = direct(probe, b"GET /big HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    check(b"HTTP/1.1 404 " in d, d[:200])
    s.stop()


if __name__ == "__main__":
    suite.run()
