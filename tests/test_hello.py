#!/usr/bin/env python3
"""examples/hello, the plugin authors copy, exactly as documented.

The dynamic build compiles it out of tree, with its own Makefile, against
an installed evapi (the header and evapi.pc only) and loads it through
API_PLUGIN_PATH; the static build has it compiled in (configure
--with-plugins=examples/hello). Then every behaviour of its README."""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time

from evapitest import (Suite, Server, check, eq, http, raw_exchange,
                       parse_response, skip)

STATIC = os.environ.get("EVAPI_STATIC") == "yes"
suite = Suite("hello")
TOP = os.environ.get("top_srcdir", ".")


def build_out_of_tree():
    """make install into a temporary root, then the example's Makefile with
    only what was installed; returns the directory holding hello.so."""
    top = os.environ["top_builddir"]
    dest = tempfile.mkdtemp(prefix="evapi-destdir-")
    suite.cleanups.append(lambda: shutil.rmtree(dest, ignore_errors=True))
    r = subprocess.run([os.environ.get("MAKE", "make"), "-C", top, "install",
                        f"DESTDIR={dest}"], capture_output=True, text=True)
    eq(r.returncode, 0, r.stderr[-2000:])
    pcs = [os.path.join(root, f) for root, _, files in os.walk(dest)
           for f in files if f == "evapi.pc"]
    eq(len(pcs), 1, "one evapi.pc installed")
    src = tempfile.mkdtemp(prefix="evapi-hello-")
    suite.cleanups.append(lambda: shutil.rmtree(src, ignore_errors=True))
    for f in ("hello.c", "Makefile"):
        shutil.copy(os.path.join(TOP, "examples", "hello", f), src)
    env = dict(os.environ, PKG_CONFIG_PATH=os.path.dirname(pcs[0]),
               PKG_CONFIG_SYSROOT_DIR=dest)
    # A user's own make: not the silent one (-s) `make check` may run in.
    for k in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES"):
        env.pop(k, None)
    r = subprocess.run(["make", "-C", src], env=env, capture_output=True,
                       text=True)
    eq(r.returncode, 0, r.stdout + r.stderr)
    check(f"-I{dest}" in r.stdout, f"built against the install: {r.stdout}")
    os.chmod(src, 0o755)
    os.chmod(os.path.join(src, "hello.so"), 0o644)
    return src


if STATIC:
    extra = os.environ.get("EVAPI_EXTRA_PLUGINS", "").split()
    if "hello" not in extra:
        suite.skip_all("this static binary was configured without "
                       "--with-plugins=examples/hello")
    env = {}
else:
    env = dict(API_PLUGIN_PATH=build_out_of_tree() + ":" +
               os.environ["EVAPI_PLUGIN_DIR"])

srv = Server(suite, API_PLUGINS="health,hello", LOG_LEVEL="info", WORKERS="2",
             HELLO_MAX_SLEEP_MS="2000", MAX_BODY_SIZE="4096", **env)
srv.start()
one = Server(suite, API_PLUGINS="health,hello", LOG_LEVEL="info", WORKERS="1",
             **env)
one.start()


def get(path, server=srv, **kw):
    return http(server.port, path, **kw)


def post_json(path, body, ctype="application/json", method="POST"):
    return http(srv.port, path, method=method, body=body,
                headers={"Content-Type": ctype})


@suite.test
def greetings():
    """GET /hello/{name}: the greeting in en, fr or de with its
    Content-Language; another lang is 400"""
    r = get("/hello/bob")
    eq((r.status, r.json(), r.header("Content-Language")),
       (200, {"message": "Hello, bob"}, "en"))
    for lang, word in (("fr", "Bonjour"), ("de", "Hallo"), ("en", "Hello")):
        r = get(f"/hello/ann?lang={lang}")
        eq((r.json()["message"], r.header("Content-Language")),
           (f"{word}, ann", lang))
    r = get("/hello/ann?lang=es")
    eq((r.status, r.json()["status"]), (400, 400))
    h = http(srv.port, "/hello/bob", method="HEAD")
    eq((h.status, h.header("Content-Length"), h.body),
       (200, get("/hello/bob").header("Content-Length"), b""))


@suite.test
def names_decoded_and_escaped():
    """NAME is percent-decoded UTF-8 and escaped in the JSON; bad escapes
    and bytes that are not UTF-8 are 400 before the plugin runs"""
    r = get("/hello/W%C3%B6rld%20%22x%22%5C")
    eq(r.status, 200)
    eq(r.json(), {"message": 'Hello, W\u00f6rld "x"\\'})
    check(b'\\"x\\"' in r.body, r.body)
    json.loads(r.body.decode("utf-8"))
    for bad in ("/hello/%FF", "/hello/%C3", "/hello/%00", "/hello/%zz",
                "/hello/%ED%A0%80"):
        eq(get(bad).status, 400, bad)
    eq(get("/hello/").status, 404, "an empty segment")
    eq(get("/hello/a/b").status, 404, "two segments")


@suite.test
def stats_exact_next_to_pattern():
    """GET /hello/stats is the exact route, not a greeting"""
    r = get("/hello/stats")
    eq(r.status, 200)
    check(set(r.json()) == {"sleeps_completed", "sleeps_cancelled"}, r.json())


@suite.test
def echo():
    """POST /echo: JSON in, {"echo":BODY,"bytes":N} out; invalid JSON 400
    naming where; other Content-Type 415; over MAX_BODY_SIZE 413; chunked"""
    body = b'{"a":[1,2,{"b":null}],"s":"\xc3\xa9"}'
    r = post_json("/echo", body)
    eq((r.status, r.json()), (200, {"echo": {"a": [1, 2, {"b": None}], "s": "\u00e9"},
                                    "bytes": len(body)}))
    r = post_json("/echo", b"[1,2", )
    eq(r.status, 400)
    check("invalid JSON at byte" in r.json()["error"], r.json())
    r = post_json("/echo", b'{"a":1} x')
    eq(r.status, 400)
    check("invalid JSON at byte 8" in r.json()["error"], r.json())
    eq(post_json("/echo", b"{}", ctype="text/plain").status, 415)
    eq(post_json("/echo", b"{}", ctype="application/problem+json").status, 200)
    eq(post_json("/echo", b'"' + b"x" * 5000 + b'"').status, 413)
    data = raw_exchange(srv.port, b"POST /echo HTTP/1.1\r\nHost: x\r\n"
                        b"Content-Type: application/json\r\n"
                        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                        b"4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n")
    r, _ = parse_response(data)
    eq((r.status, r.json()), (200, {"echo": {"a": 1}, "bytes": 7}))
    eq(http(srv.port, "/echo").status, 405, "GET /echo")


def stats(server):
    return get("/hello/stats", server).json()


@suite.test
def sleep_answers_later():
    """GET /sleep?ms=N is answered N ms later, from a timer; out of range
    (HELLO_MAX_SLEEP_MS) is 400; the worker serves others meanwhile"""
    before = stats(one)["sleeps_completed"]
    with socket.create_connection(("127.0.0.1", one.port), timeout=3) as s:
        t0 = time.monotonic()
        s.sendall(b"GET /sleep?ms=400 HTTP/1.1\r\nHost: x\r\n\r\n")
        # The same (only) worker answers another request meanwhile.
        t1 = time.monotonic()
        eq(get("/health", one).status, 200)
        check(time.monotonic() - t1 < 0.2, "not blocked by the sleep")
        data = b""
        while b"slept_ms" not in data:
            data += s.recv(4096)
        took = time.monotonic() - t0
    r, _ = parse_response(data)
    eq(r.json(), {"slept_ms": 400})
    check(0.38 < took < 1.5, f"answered after {took:.3f}s")
    eq(stats(one)["sleeps_completed"], before + 1)
    for bad in ("/sleep?ms=-1", "/sleep?ms=abc", "/sleep", "/sleep?ms=2001"):
        eq(get(bad).status, 400, bad)
    eq(get("/sleep?ms=2000").json(), {"slept_ms": 2000})
    eq(get("/sleep?ms=6000", one).status, 400, "the default maximum is 5000")


@suite.test
def sleep_cancelled_when_client_leaves():
    """A client that leaves while its request sleeps is counted in
    sleeps_cancelled and its timer freed; the server serves on"""
    before = stats(one)
    for _ in range(5):
        s = socket.create_connection(("127.0.0.1", one.port))
        s.sendall(b"GET /sleep?ms=3000 HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.05)
        s.close()
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        if stats(one)["sleeps_cancelled"] == before["sleeps_cancelled"] + 5:
            break
        time.sleep(0.05)
    after = stats(one)
    eq(after["sleeps_cancelled"], before["sleeps_cancelled"] + 5)
    time.sleep(3.2)
    eq(stats(one)["sleeps_completed"], after["sleeps_completed"],
       "no cancelled sleep completed later")


def req(method, path, body=b"", headers=None, server=srv):
    return http(server.port, path, method=method, body=body,
                headers=headers or {})


@suite.test
def kv_store():
    """PUT /kv/{key}: 201 with Location when new, 204 when replaced; GET:
    the bytes with their type, or 404; DELETE: 204 or 404; other methods
    405 with Allow; over 1 KiB 413"""
    r = req("PUT", "/kv/my%20key", b"v1", {"Content-Type": "text/plain"})
    eq((r.status, r.header("Location")), (201, "/kv/my%20key"))
    r = req("PUT", "/kv/my%20key", b"\x00\x01binary", {"Content-Type": "application/x-b"})
    eq((r.status, r.body), (204, b""))
    r = req("GET", "/kv/my%20key")
    eq((r.status, r.body, r.header("Content-Type")),
       (200, b"\x00\x01binary", "application/x-b"))
    r = req("HEAD", "/kv/my%20key")
    eq((r.status, r.header("Content-Length")), (200, "8"))
    eq(req("DELETE", "/kv/my%20key").status, 204)
    eq(req("DELETE", "/kv/my%20key").status, 404)
    eq(req("GET", "/kv/my%20key").status, 404)
    for m in ("PATCH", "POST"):
        r = req(m, "/kv/x", b"{}")
        eq((r.status, r.header("Allow")), (405, "DELETE, GET, HEAD, OPTIONS, PUT"), m)
    r = req("OPTIONS", "/kv/x")
    eq((r.status, r.header("Allow")), (204, "DELETE, GET, HEAD, OPTIONS, PUT"))
    eq(req("PUT", "/kv/big", b"x" * 1025).status, 413)
    r = req("PUT", "/kv/%C3%A9t%C3%A9", b"summer")
    eq((r.status, r.header("Location")), (201, "/kv/%C3%A9t%C3%A9"))


@suite.test
def kv_shared_by_workers():
    """The store is shared by every worker: a value PUT through one
    connection is read on forty new ones, whatever loop takes them"""
    eq(req("PUT", "/kv/shared", b"everyone").status, 201)
    for _ in range(40):
        eq(req("GET", "/kv/shared").body, b"everyone")
    eq(req("DELETE", "/kv/shared").status, 204)


@suite.test
def help_lists_the_setting():
    """evapi --help lists HELLO_MAX_SLEEP_MS with its range, because hello
    is in API_PLUGINS"""
    from evapitest import run_evapi, base_env
    r = run_evapi(["--help"], base_env(API_PLUGINS="health,hello", **env))
    eq(r.returncode, 0)
    check("HELLO_MAX_SLEEP_MS" in r.stdout and "[hello]" in r.stdout
          and "a whole number from 1 to 60000 (default: 5000)" in r.stdout,
          r.stdout[-1500:])
    r = run_evapi([], base_env(API_PLUGINS="hello", HELLO_MAX_SLEEP_MS="0",
                               **env))
    eq(r.returncode, 78)
    check('HELLO_MAX_SLEEP_MS="0" is not valid' in r.stderr, r.stderr)


if __name__ == "__main__":
    suite.run()
