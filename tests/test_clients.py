#!/usr/bin/env python3
"""evapi's replies, read by parsers nobody here wrote: Python's h11 (a
strict HTTP/1.1 implementation) and Node's llhttp (stricter still).

Every reply, to good requests, to malformed ones and to thousands of
mutations of them, must start with "HTTP/1.1 " (or "HTTP/1.0 " to a
well-formed HTTP/1.0 request) and a three-digit status, and parse. An
absolute-form target is served like any other, on a kept-alive connection
a Node agent reuses."""

import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile

from evapitest import Suite, Server, check, eq, raw_exchange, skip

# Debian's python3-h11 lives in the system's dist-packages; the python
# running the tests may be another one.
try:
    import h11
except ImportError:
    sys.path.append("/usr/lib/python3/dist-packages")
    try:
        import h11
    except ImportError:
        h11 = None

suite = Suite("clients")
srv = Server(suite, API_PLUGINS="health,version", LOG_LEVEL="info", WORKERS="2")
srv.start()

STATUS_LINE = re.compile(rb"^HTTP/1\.[01] [1-5][0-9][0-9] ")

GOOD = [
    b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n",
    b"HEAD /version HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /health HTTP/1.0\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
    b"OPTIONS /health HTTP/1.1\r\nHost: x\r\n\r\n",
    b"DELETE /health HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET http://127.0.0.1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
]
BAD = [
    b"GET /health HTTP/1.2\r\nHost: x\r\n\r\n",
    b"GET /health HTTP/1.10\r\nHost: x\r\n\r\n",
    b"GET /health HTTP/1.4294967295\r\nHost: x\r\n\r\n",
    b"GET /h HTTP/1.65535\r\nHost x\r\n\r\n",
    b"FOO /h HTTP/1.65535\r\nHost: x\r\n\r\n",
    b"POST /health HTTP/1.7\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n",
    b"POST /health HTTP/1.3\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
    b"GET /health HTTP/0.9\r\nHost: x\r\n\r\n",
    b"GET /health HTTP/2.0\r\nHost: x\r\n\r\n",
    b"GET /health HTTP/1.1\nHost: x\n\n",
    b"POST /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n",
    b"HELLO\r\n\r\n",
    b"GET /health\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # a TLS ClientHello
]


def reply_to(req):
    return raw_exchange(srv.port, req + b"" if req.endswith(b"\n") else req,
                        timeout=1.0)


def h11_parse(data, method=b"GET"):
    """Parse DATA as h11 would, as the answer to METHOD: its statuses."""
    conn = h11.Connection(our_role=h11.CLIENT)
    conn.send(h11.Request(method=method, target="/", headers=[("Host", "x")]))
    conn.send(h11.EndOfMessage())
    conn.receive_data(data)
    statuses = []
    while True:
        ev = conn.next_event()
        if ev is h11.NEED_DATA or ev is h11.PAUSED or isinstance(ev, h11.ConnectionClosed):
            break
        if isinstance(ev, h11.Response):
            statuses.append(ev.status_code)
        if isinstance(ev, h11.EndOfMessage):
            break
    return statuses


@suite.test
def status_lines_well_formed():
    """Every reply, good or bad request, starts HTTP/1.x and a three-digit
    status; h11 reads each one (HTTP/1.0 only for a well-formed 1.0)"""
    if h11 is None:
        skip("python3-h11 is not installed")
    for req in GOOD + BAD:
        data = reply_to(req)
        check(STATUS_LINE.match(data), f"{req!r} -> {data[:60]!r}")
        if data.startswith(b"HTTP/1.0 "):
            check(b" HTTP/1.0\r\n" in req.split(b"\r\n")[0] + b"\r\n", req)
        method = req.split(b" ")[0] if req[:1].isalpha() else b"GET"
        method = method if method in (b"GET", b"HEAD", b"POST", b"OPTIONS",
                                      b"DELETE") else b"GET"
        statuses = h11_parse(data, method)
        check(statuses and 100 <= statuses[0] <= 599,
              f"h11 read {req!r} -> {data[:80]!r}: {statuses}")


def mutate(rng, req):
    b = bytearray(req)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(5)
        i = rng.randrange(len(b)) if b else 0
        if op == 0 and b:
            b[i] = rng.randrange(256)
        elif op == 1:
            b.insert(i, rng.choice(b" \t\r\n:/.0123456789HTTP%\x00\x7f\xff"))
        elif op == 2 and b:
            del b[i]
        elif op == 3:
            b[i:i] = rng.choice([b"HTTP/1.", b"\r\n", b"Content-Length: 3\r\n",
                                 b"Transfer-Encoding: chunked\r\n", b"9" * 10])
        else:
            j = rng.randrange(len(b) + 1)
            b[i:j] = b[j:i] if j < i else b[i:j]
    return bytes(b)


@suite.test
def mutated_requests():
    """2000 mutated requests: every reply has a well-formed status line and
    h11 reads it; the server stays up"""
    if h11 is None:
        skip("python3-h11 is not installed")
    rng = random.Random(20261206)
    seeds = GOOD + BAD
    bad_lines = []
    for n in range(2000):
        req = mutate(rng, rng.choice(seeds))
        data = raw_exchange(srv.port, req, timeout=0.2, read_all=False)
        if not data:
            continue  # an incomplete request: the server waits, correctly
        if not STATUS_LINE.match(data) or not h11_parse(data):
            bad_lines.append((req, data[:60]))
    check(not bad_lines, f"{len(bad_lines)} bad replies, e.g. {bad_lines[:3]}")
    eq(srv.get("/health").status, 200)


NODE_PARSE = r"""
// Serve each captured reply to Node's own HTTP client (llhttp) and report
// whether it parses: status, or the error code.
const http = require('http'), net = require('net');
const replies = JSON.parse(require('fs').readFileSync(process.argv[2]));
const out = [];
function next(i) {
  if (i === replies.length) { console.log(JSON.stringify(out)); return; }
  const bytes = Buffer.from(replies[i].data, 'base64');
  const server = net.createServer(s => { s.once('data', () => { s.end(bytes); }); });
  server.listen(0, '127.0.0.1', () => {
    const req = http.request({host: '127.0.0.1', port: server.address().port,
                              method: replies[i].method, path: '/',
                              agent: false}, res => {
      res.resume();
      res.on('end', () => { out.push(res.statusCode); server.close(); next(i + 1); });
    });
    req.on('error', e => { out.push(e.code || String(e)); server.close(); next(i + 1); });
    req.end();
  });
}
next(0);
"""


def node():
    n = shutil.which("node")
    if n is None:
        skip("node is not installed")
    return n


@suite.test
def llhttp_reads_every_reply():
    """Node's llhttp reads evapi's reply to every good and bad request"""
    n = node()
    replies = []
    import base64
    for req in GOOD + BAD:
        data = reply_to(req)
        method = req.split(b" ")[0].decode("latin-1") if req[:1].isalpha() else "GET"
        if method not in ("GET", "HEAD", "POST", "OPTIONS", "DELETE"):
            method = "GET"
        # Only the first reply: llhttp reads one response per request.
        replies.append({"data": base64.b64encode(data).decode(), "method": method})
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(replies, f)
        path = f.name
    try:
        r = subprocess.run([n, "-e", NODE_PARSE, "-", path], capture_output=True,
                           text=True, timeout=60)
    finally:
        os.unlink(path)
    eq(r.returncode, 0, r.stderr)
    results = json.loads(r.stdout)
    for req, res in zip(GOOD + BAD, results):
        check(isinstance(res, int) and 100 <= res <= 599,
              f"llhttp on the reply to {req!r}: {res}")


NODE_AGENT = r"""
// A keep-alive agent: an absolute-form request, then a normal one, on the
// same connection, ten times over.
const http = require('http');
const port = Number(process.argv[2]);
const agent = new http.Agent({keepAlive: true, maxSockets: 1});
const sockets = new Set();
let left = 20, statuses = [];
function one(i) {
  const path = i % 2 === 0 ? `http://127.0.0.1:${port}/health` : '/version';
  const req = http.request({host: '127.0.0.1', port, path, agent}, res => {
    sockets.add(res.socket);
    res.resume();
    res.on('end', () => {
      statuses.push(res.statusCode);
      if (--left === 0) { console.log(JSON.stringify({statuses, sockets: sockets.size}));
                          agent.destroy(); }
      else one(i + 1);
    });
  });
  req.on('error', e => { console.log(JSON.stringify({error: e.code || String(e)}));
                         process.exit(0); });
  req.end();
}
one(0);
"""


@suite.test
def absolute_form_keeps_the_connection():
    """A Node keep-alive agent: absolute-form and normal requests alternate
    on one connection, all 200, no reset"""
    n = node()
    r = subprocess.run([n, "-e", NODE_AGENT, "-", str(srv.port)],
                       capture_output=True, text=True, timeout=30)
    eq(r.returncode, 0, r.stderr)
    res = json.loads(r.stdout)
    check("error" not in res, res)
    eq(res["statuses"], [200] * 20)
    eq(res["sockets"], 1, "one connection for all twenty")


@suite.test
def absolute_form_pipelined():
    """An absolute-form request with a second pipelined behind it: both
    answered, and the connection closes only when asked, with
    Connection: close"""
    data = raw_exchange(srv.port,
                        b"GET http://127.0.0.1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                        b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    eq(data.count(b"HTTP/1.1 200 OK"), 2, data)
    check(data.rstrip().endswith(b'{"status":"ok"}'), data[-60:])
    eq(data.count(b"Connection: close"), 1, "said once, on the last")


if __name__ == "__main__":
    suite.run()
