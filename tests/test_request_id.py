#!/usr/bin/env python3
"""X-Request-Id: the client's when it is a sane token (1 to 128 visible
ASCII bytes), otherwise one evapi makes, unique in the process; on every
response (each way a request is read and answered, refusals included), in
the error bodies evapi writes, and given to plugins."""

import json
import os
import re
import socket
import threading

from evapitest import (Suite, Server, check, eq, raw_exchange,
                       parse_response, skip)

STATIC = os.environ.get("EVAPI_STATIC") == "yes"
# One case loads a fixture plugin: it says SKIP in the static build (and
# runs in the dynamic and sanitizer builds, where CI requires it).
suite = Suite("request-id", required=not STATIC)
MADE = re.compile(r"[0-9a-f]{16}-\d+-\d+")

srv = Server(suite, API_PLUGINS="health,version", LOG_LEVEL="info",
             MAX_BODY_SIZE=100, WORKERS=2).start()


def one(payload, port=None, head=False):
    r, _ = parse_response(raw_exchange(port or srv.port, payload, timeout=2),
                          head=head)
    return r


def req(path="/health", method="GET", extra=b"", close=True):
    return (f"{method} {path} HTTP/1.1\r\nHost: x\r\n".encode() + extra +
            (b"Connection: close\r\n" if close else b"") + b"\r\n")


def with_id(value):
    return b"X-Request-Id: " + value + b"\r\n"


@suite.test
def made_on_every_answer():
    """Without one from the client, every answer carries a made id: 200,
    HEAD, 404, 405, OPTIONS, a body read by evhttp (chunked), a kept-alive
    request, refusals before and after the head"""
    cases = {
        "200 at accept": req(),
        "HEAD": req(method="HEAD"),
        "404": req("/nope"),
        "405": req(method="DELETE"),
        "OPTIONS *": req("*", "OPTIONS"),
        "chunked body (evhttp)": req(method="POST", extra=b"Transfer-Encoding: "
                                     b"chunked\r\n") + b"1\r\nx\r\n0\r\n\r\n",
        "kept alive (direct)": req(close=False) + req(),
        "refused mid-head (400)": b"GET /health HTTP/1.1\nHost: x\r\n\r\n",
        "refused after the head (413)": req(method="POST",
                                            extra=b"Content-Length: 1000\r\n"),
        "501": b"BREW / HTTP/1.1\r\nHost: x\r\n\r\n",
    }
    for what, payload in cases.items():
        r = one(payload, head=what == "HEAD")
        rid = r.header("X-Request-Id")
        check(rid and MADE.fullmatch(rid), f"{what}: {rid!r}")
        if r.status >= 400 and what != "HEAD":
            eq(r.json()["request_id"], rid, f"{what}: the body's id")
            eq(r.json()["status"], r.status, what)


@suite.test
def client_ids_taken_when_sane():
    """A sane id comes back as sent (header and error body), even with
    characters JSON escapes; 128 bytes is the longest taken"""
    for rid in (b"abc-123", b"0" * 128, b'a"b\\c{}', b"~!#$%&'*+.^_`|"):
        r = one(req("/nope", extra=with_id(rid)))
        eq(r.header("X-Request-Id"), rid.decode())
        eq(r.json()["request_id"], rid.decode(), "read back from the JSON")
        eq(one(req(extra=with_id(rid))).header("X-Request-Id"), rid.decode())


@suite.test
def insane_ids_replaced():
    """Too long, empty, with a space, a tab or 8-bit bytes: replaced by a
    made id (the client's is never echoed)"""
    for rid in (b"0" * 129, b"", b"a b", b"a\tb", b"caf\xc3\xa9", b"\x7f"):
        r = one(req("/nope", extra=with_id(rid)))
        got = r.header("X-Request-Id")
        check(MADE.fullmatch(got), f"{rid!r}: {got!r}")
        eq(r.json()["request_id"], got)


@suite.test
def first_of_two_taken():
    """Two X-Request-Id headers: the first is taken"""
    r = one(req(extra=with_id(b"first") + with_id(b"second")))
    eq(r.header("X-Request-Id"), "first")


@suite.test
def refusal_takes_the_clients_when_its_head_was_read():
    """A refusal after a whole head (413) answers with the client's id; one
    in the middle of the head makes one"""
    r = one(req(method="POST", extra=with_id(b"big-1") +
                b"Content-Length: 1000\r\n"))
    eq((r.status, r.header("X-Request-Id"), r.json()["request_id"]),
       (413, "big-1", "big-1"))
    r = one(b"GET /health HTTP/1.1\r\nX-Request-Id: mid-1\r\nBad Header\r\n\r\n")
    eq(r.status, 400)
    check(MADE.fullmatch(r.header("X-Request-Id")), r.header("X-Request-Id"))


@suite.test
def unique_across_workers_and_processes():
    """3,000 requests over three workers and six connections get 3,000
    different ids; another process makes other ids"""
    s = Server(suite, API_PLUGINS="health", WORKERS=3, LOG_LEVEL="warn").start()
    ids, lock = [], threading.Lock()

    def client():
        c = socket.create_connection(("127.0.0.1", s.port), timeout=10)
        c.sendall(req(close=False) * 500)
        data = b""
        while data.count(b"X-Request-Id: ") < 500:
            b = c.recv(65536)
            if not b:
                break
            data += b
        c.close()
        with lock:
            ids.extend(re.findall(rb"X-Request-Id: ([^\r]+)", data))

    threads = [threading.Thread(target=client) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    eq(len(ids), 3000)
    eq(len(set(ids)), 3000, "all different")
    loops = {i.split(b"-")[1] for i in ids}
    check(len(loops) >= 2, f"served by several loops: {loops}")
    other = one(req()).header("X-Request-Id")
    check(other.split("-")[0] != ids[0].decode().split("-")[0],
          "another process, another random part")


@suite.test
def plugins_see_the_id():
    """evapi_request_id gives a plugin the id it is answered with, and
    evapi_respond_error puts it in the body"""
    if STATIC:
        skip("the static build loads no plugin from a file")
    from fixtures import build, copy_builtins, plugin_dir
    pdir = plugin_dir(suite)
    copy_builtins(pdir)
    build("metered.c", os.path.join(pdir, "metered.so"), libs=["-lpthread"])
    s = Server(suite, API_PLUGINS="metered", API_PLUGIN_DIR=pdir,
               LOG_LEVEL="info").start(path="/rid")
    r = one(req("/rid", extra=with_id(b"from-client")), port=s.port)
    eq(r.json(), {"request_id": "from-client"})
    r = one(req("/rid"), port=s.port)
    eq(r.json()["request_id"], r.header("X-Request-Id"))
    r = one(req("/oops", extra=with_id(b"oops-1")), port=s.port)
    eq(r.json(), {"error": "oops", "status": 400, "request_id": "oops-1"})


if __name__ == "__main__":
    suite.run()
