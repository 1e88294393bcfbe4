#!/usr/bin/env python3
"""The access log (ACCESS_LOG=on): one JSON line per answer with its
request id, method, route pattern, status, body bytes, duration in
microseconds, client address and path; refusals with their id and reason;
probe routes left out unless ACCESS_LOG_PROBES=on, at any LOG_LEVEL."""

import json
import re
import time

from evapitest import (Suite, Server, check, eq, raw_exchange, parse_response)

suite = Suite("access-log")
MADE = re.compile(r"[0-9a-f]{16}-\d+-\d+")


def one(port, payload, head=False):
    r, _ = parse_response(raw_exchange(port, payload, timeout=2), head=head)
    return r


def req(path, method="GET", extra=b""):
    return (f"{method} {path} HTTP/1.1\r\nHost: x\r\n".encode() + extra +
            b"Connection: close\r\n\r\n")


def lines(s):
    """Every stdout line, parsed strictly (UTF-8, JSON); the access lines."""
    time.sleep(0.15)
    s.logfile.flush()
    s.logfile.seek(0)
    recs = [json.loads(l.decode("utf-8")) for l in s.logfile.read().splitlines()]
    return [r for r in recs if r.get("msg") == "request"]


def server(**env):
    env.setdefault("API_PLUGINS", "health,version,metrics")
    env.setdefault("LOG_LEVEL", "info")
    return Server(suite, **env).start(path="/version?start")


@suite.test
def each_line_carries_the_answer():
    """A line per answer: request_id (the one sent back), method, route
    pattern, status, bytes (the body sent), duration_us, client, path"""
    s = server(ACCESS_LOG="on")
    answers = [one(s.port, req("/nope?x=1", extra=b"X-Request-Id: log-1\r\n")),
               one(s.port, req("/health", "DELETE")),
               one(s.port, req("/nope", "HEAD"), head=True)]
    recs = lines(s)
    eq(len(recs), 3, recs)
    for r, rec in zip(answers, recs):
        eq(rec["request_id"], r.header("X-Request-Id"))
        eq(rec["status"], str(r.status))
        eq(rec["client"], "127.0.0.1")
        check(re.fullmatch(r"\d+", rec["duration_us"]), rec)
        check(int(rec["duration_us"]) < 1_000_000, rec)
    eq(recs[0]["request_id"], "log-1")
    eq((recs[0]["method"], recs[0]["route"], recs[0]["path"]),
       ("GET", "unmatched", "/nope?x=1"))
    eq(recs[0]["bytes"], answers[0].header("Content-Length"))
    eq((recs[1]["method"], recs[1]["route"], recs[1]["status"]),
       ("DELETE", "/health", "405"))
    eq(recs[1]["bytes"], answers[1].header("Content-Length"))
    eq((recs[2]["method"], recs[2]["bytes"]), ("HEAD", "0"), "no body sent")
    check(MADE.fullmatch(recs[2]["request_id"]), recs[2])


@suite.test
def probes_left_out_unless_asked():
    """/health, /version and /metrics (probe routes) are not logged by
    default, at info or at debug; ACCESS_LOG_PROBES=on logs them"""
    for env in ({"ACCESS_LOG": "on"}, {"LOG_LEVEL": "debug"}):
        s = server(**env)
        for p in ("/health", "/version", "/metrics", "/nope"):
            one(s.port, req(p))
        eq([r["path"] for r in lines(s)], ["/nope"], env)
    s = server(ACCESS_LOG="on", ACCESS_LOG_PROBES="on")
    for p in ("/health", "/version", "/metrics"):
        one(s.port, req(p))
    eq([r["path"] for r in lines(s)][1:], ["/health", "/version", "/metrics"])
    eq([r["route"] for r in lines(s)][1:], ["/health", "/version", "/metrics"])


@suite.test
def refusals_logged_with_their_id():
    """A refusal's line has the id it was answered with, the status, the
    reason and the request line as far as it came"""
    s = server(ACCESS_LOG="on", MAX_BODY_SIZE=10)
    r1 = one(s.port, b"GET /health HTTP/1.1\nHost: x\r\n\r\n")
    r2 = one(s.port, req("/health", "POST", b"X-Request-Id: big\r\n"
                         b"Content-Length: 100\r\n"))
    recs = lines(s)
    eq(len(recs), 2, recs)
    eq((recs[0]["status"], recs[0]["request_id"]),
       ("400", r1.header("X-Request-Id")))
    check(recs[0]["reason"] and recs[0]["line"].startswith("GET /health"),
          recs[0])
    eq((recs[1]["status"], recs[1]["request_id"], r2.header("X-Request-Id")),
       ("413", "big", "big"))


@suite.test
def hostile_ids_and_paths_stay_valid_json():
    """Quotes, backslashes and 8-bit bytes from the client leave every line
    valid UTF-8 JSON, and the id reads back as sent"""
    s = server(ACCESS_LOG="on")
    one(s.port, req("/n\"o\\pe", extra=b'X-Request-Id: a"b\\c\r\n'))
    one(s.port, b"GET /\xff\xfe HTTP/1.1\r\nHost: x\r\nX-Request-Id: \xc3\xa9\r\n"
                b"Connection: close\r\n\r\n")
    recs = lines(s)
    eq(recs[0]["request_id"], 'a"b\\c')
    eq(recs[0]["path"], '/n"o\\pe')
    check(MADE.fullmatch(recs[1]["request_id"]), recs[1])


if __name__ == "__main__":
    suite.run()
