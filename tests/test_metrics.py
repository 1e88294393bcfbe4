#!/usr/bin/env python3
"""GET /metrics on the real binary with the plugins it ships (dynamic,
sanitizer and static builds alike): the exposition parsed strictly
(tests/lib/promtext.py), checked by promtool, counting exactly what was
sent, bounded by routes and not by paths."""

import os
import random
import shutil
import socket
import string
import subprocess
import threading
import time

from evapitest import (CI, Suite, Server, check, eq, free_port, raw_exchange,
                       parse_response, skip)
import promtext

suite = Suite("metrics")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PLUGINS = "health,version,metrics"


def scrape(port, path="/metrics"):
    """(families, raw text, response) of one GET /metrics."""
    data = raw_exchange(port, f"GET {path} HTTP/1.1\r\nHost: x\r\n"
                        f"Connection: close\r\n\r\n".encode(), timeout=5)
    r, _ = parse_response(data)
    eq(r.status, 200, f"GET {path}: {r.body[:300]!r}")
    return promtext.parse(r.body), r.body, r


def keepalive(port, requests, timeout=10):
    """Send REQUESTS (bytes each) pipelined on one connection, read every
    answer (a HEAD's without a body); returns the responses."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    out = []
    try:
        s.sendall(b"".join(requests))
        data = b""
        while len(out) < len(requests):
            head = requests[len(out)].startswith(b"HEAD ")
            end = data.find(b"\r\n\r\n")
            if end >= 0:
                r, rest = parse_response(data, head=head)
                if head or len(r.body) >= int(r.header("Content-Length") or 0):
                    out.append(r)
                    data = rest
                    continue
            b = s.recv(65536)
            if not b:
                break
            data += b
    finally:
        s.close()
    return out


def get(path, method="GET", extra=""):
    return f"{method} {path} HTTP/1.1\r\nHost: x\r\n{extra}\r\n".encode()


def fresh(**env):
    env.setdefault("API_PLUGINS", PLUGINS)
    env.setdefault("LOG_LEVEL", "info")
    # Started by a scrape: no other route counts a request before a test.
    return Server(suite, **env).start(path="/metrics")


# ---- the format ------------------------------------------------------------------

@suite.test
def content_type_and_strict_format():
    """GET /metrics: 200, the Content-Type of format 0.0.4, a body the strict
    parser accepts, every core family with HELP and TYPE"""
    s = fresh()
    s.get("/health")
    fams, body, r = scrape(s.port)
    eq(r.header("Content-Type"), CONTENT_TYPE)
    check(r.header("X-Request-Id"), "a request id")
    want = {"http_requests_total": "counter",
            "http_request_duration_seconds": "histogram",
            "http_requests_in_flight": "gauge",
            "evapi_connections_open": "gauge",
            "evapi_connections_accepted_total": "counter",
            "evapi_connections_closed_total": "counter",
            "evapi_requests_refused_total": "counter",
            "evapi_build_info": "gauge",
            "process_cpu_seconds_total": "counter",
            "process_resident_memory_bytes": "gauge",
            "process_virtual_memory_bytes": "gauge",
            "process_open_fds": "gauge",
            "process_max_fds": "gauge",
            "process_start_time_seconds": "gauge",
            "process_threads": "gauge"}
    for name, typ in want.items():
        check(name in fams, f"{name} missing")
        eq(fams[name].type, typ, name)
        check(fams[name].help, f"{name} has no help")
    # HEAD: the same head, no body.
    data = raw_exchange(s.port, b"HEAD /metrics HTTP/1.1\r\nHost: x\r\n"
                        b"Connection: close\r\n\r\n")
    h, rest = parse_response(data, head=True)
    eq((h.status, h.header("Content-Type"), rest), (200, CONTENT_TYPE, b""))


@suite.test
def parser_refuses_what_the_format_forbids():
    """The test's parser is strict: each broken exposition is refused (so a
    pass above means something)"""
    good = ("# HELP h_seconds x\n# TYPE h_seconds histogram\n"
            'h_seconds_bucket{le="1"} 1\nh_seconds_bucket{le="+Inf"} 2\n'
            "h_seconds_sum 3\nh_seconds_count 2\n")
    promtext.parse(good)
    bad = {
        "no newline at the end": good[:-1],
        "+Inf != count": good.replace("h_seconds_count 2", "h_seconds_count 3"),
        "buckets decrease": good.replace('le="+Inf"} 2', 'le="+Inf"} 0')
                                 .replace("count 2", "count 0"),
        "no +Inf": good.replace('h_seconds_bucket{le="+Inf"} 2\n', ""),
        "no TYPE": "# HELP a_total x\na_total 1\n",
        "no HELP": "# TYPE a_total counter\na_total 1\n",
        "TYPE after a sample": "# HELP a x\na 1\n# TYPE a gauge\n",
        "bad escape": '# HELP a x\n# TYPE a gauge\na{l="\\t"} 1\n',
        "raw quote": '# HELP a x\n# TYPE a gauge\na{l="a"b"} 1\n',
        "negative counter": "# HELP a_total x\n# TYPE a_total counter\na_total -1\n",
        "series twice": "# HELP a x\n# TYPE a gauge\na 1\na 2\n",
        "split family": ("# HELP a x\n# TYPE a gauge\na{x=\"1\"} 1\n"
                         "# HELP b x\n# TYPE b gauge\nb 1\na{x=\"2\"} 1\n"),
        "bad number": "# HELP a x\n# TYPE a gauge\na 1,5\n",
        "blank line": "# HELP a x\n\n# TYPE a gauge\na 1\n",
        "not UTF-8": b"# HELP a \xff\n# TYPE a gauge\na 1\n",
    }
    for what, text in bad.items():
        try:
            promtext.parse(text)
        except promtext.ParseError:
            continue
        raise AssertionError(f"the parser accepted: {what}")


@suite.test
def promtool_check_metrics_clean():
    """promtool check metrics (Debian's prometheus package) finds nothing to
    say about the output, with every kind of series present"""
    tool = shutil.which("promtool")
    if tool is None:
        skip("promtool not installed (Debian package prometheus; "
             "scripts/deps.sh test installs it)")
    s = fresh(PROBE_PORT=free_port())
    s.get("/health")
    s.get("/nope")
    raw_exchange(s.port, b"GET /x HTTP/1.1\r\n\r\n")  # a refusal
    _, body, _ = scrape(s.port)
    r = subprocess.run([tool, "check", "metrics"], input=body,
                       capture_output=True, timeout=30)
    eq((r.returncode, r.stdout + r.stderr), (0, b""), "promtool's verdict")


# ---- counting ------------------------------------------------------------------

@suite.test
def requests_counted_exactly_by_route_method_code():
    """N requests of each kind, over two workers and many connections, are
    counted exactly under the route's pattern, method and status"""
    s = fresh(WORKERS=2)
    n = 200
    results = []

    def client(i):
        rs = keepalive(s.port, [get("/health")] * (n // 4) +
                       [get("/health", "HEAD")] * 5 +
                       [get("/health", "POST", "Content-Length: 0\r\n")] * 3 +
                       [get(f"/no/such/{i}")] * 7)
        results.append(len(rs))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    eq(results, [n // 4 + 15] * 4, "every answer came")
    fams, _, _ = scrape(s.port)
    v = lambda **l: promtext.value(fams, "http_requests_total", **l)  # noqa: E731
    eq(v(route="/health", method="GET", code="200"), n)
    eq(v(route="/health", method="HEAD", code="200"), 20)
    eq(v(route="/health", method="POST", code="405"), 12)
    eq(v(route="unmatched", method="GET", code="404"), 28)
    eq(promtext.value(fams, "http_request_duration_seconds_count",
                      route="/health", method="GET"), n)
    eq(promtext.value(fams, "http_requests_in_flight"), 1, "the scrape itself")
    routes = {l["route"] for _, l, _ in fams["http_requests_total"].samples}
    check(not any(r.startswith("/no/") for r in routes), routes)


@suite.test
def options_asterisk_and_probe_port():
    """OPTIONS * counts under route "*"; PROBE_PORT serves /metrics and
    counts its connections under listener="probe"; a non-probe path there
    is unmatched"""
    probe = free_port()
    s = fresh(PROBE_PORT=probe)
    raw_exchange(s.port, b"OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    raw_exchange(probe, b"GET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    fams, _, _ = scrape(probe)
    eq(promtext.value(fams, "http_requests_total", route="*", method="OPTIONS",
                      code="204"), 1)
    # /version is a probe route: served there.
    eq(promtext.value(fams, "http_requests_total", route="/version",
                      method="GET", code="200"), 1)
    check(promtext.value(fams, "evapi_connections_accepted_total",
                         listener="probe") >= 2, "probe connections")
    eq(promtext.value(fams, "evapi_connections_open", listener="probe"), 1,
       "the scrape's own")
    _, _, r = scrape(s.port)  # the main port serves it too
    eq(r.header("Content-Type"), CONTENT_TYPE)


@suite.test
def durations_land_in_their_buckets():
    """The duration histogram: buckets 0.0005 to 10 s with the OpenTelemetry
    boundaries, cumulative, +Inf equal to the count, a sum in seconds"""
    s = fresh()
    for _ in range(10):
        s.get("/health")
    fams, _, _ = scrape(s.port)
    b = promtext.samples(fams, "http_request_duration_seconds_bucket",
                         route="/health", method="GET")
    les = [l["le"] for _, l, _ in b]
    eq(les, ["0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
             "0.075", "0.1", "0.25", "0.5", "0.75", "1", "2.5", "5", "7.5",
             "10", "+Inf"])
    eq(b[-1][2], 10)
    total = promtext.value(fams, "http_request_duration_seconds_sum",
                           route="/health", method="GET")
    check(0 < total < 1, f"sum {total} s for ten /health")


@suite.test
def random_paths_leave_the_series_count_unchanged():
    """10,000 random paths (GET, HEAD, POST, and hostile bytes) add no
    series: unmatched requests share one route label"""
    s = fresh(WORKERS=2, MAX_BODY_SIZE=1024)
    methods = ("GET", "HEAD", "POST")
    # One of each first: the series they count in exist from here on.
    for m in methods:
        keepalive(s.port, [get("/prime", m, "Content-Length: 0\r\n" if m == "POST" else "")])
    before, _, _ = scrape(s.port)
    rng = random.Random(15)
    alphabet = string.ascii_letters + string.digits + "-._~%!$&'()*+,;=:@/"
    total = 0
    for batch in range(20):
        reqs = []
        for _ in range(500):
            path = "/" + "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 60)))
            path = path.replace("%", "%25")
            m = rng.choice(methods)
            reqs.append(get(path, m, "Content-Length: 0\r\n" if m == "POST" else ""))
        rs = keepalive(s.port, reqs)
        eq(len(rs), 500, f"batch {batch}")
        total += 500
    after, _, _ = scrape(s.port)
    eq(promtext.series_count(after), promtext.series_count(before),
       "series before and after 10,000 random paths")
    n404 = sum(promtext.value(after, "http_requests_total", route="unmatched",
                              method=m, code="404") for m in methods)
    eq(n404, total + 3)


# ---- connections and refusals ------------------------------------------------------

def open_idle(port, n):
    socks = []
    for _ in range(n):
        c = socket.create_connection(("127.0.0.1", port), timeout=3)
        c.sendall(get("/health"))
        data = b""
        while not data.endswith(b'{"status":"ok"}\n'):
            data += c.recv(4096)
        socks.append(c)
    return socks


@suite.test
def connections_closed_by_reason():
    """Connections closed by the cap, by the head deadline and by the idle
    timeout are counted under their reason; open = accepted - closed"""
    s = fresh(MAX_CONNECTIONS=8, HEADER_TIMEOUT=1, IDLE_TIMEOUT=2, WORKERS=1)
    socks = open_idle(s.port, 8)
    socks += open_idle(s.port, 2)        # two above the cap: two evicted
    slow = socket.create_connection(("127.0.0.1", s.port), timeout=3)
    slow.sendall(b"GET /health HTTP/1.1\r\nHost")   # never finished
    time.sleep(3.0)                      # > HEADER_TIMEOUT and IDLE_TIMEOUT
    fams, _, _ = scrape(s.port)
    c = lambda r: promtext.value(fams, "evapi_connections_closed_total",  # noqa: E731
                                 listener="main", reason=r)
    check(c("cap") >= 2, f"cap: {c('cap')}")
    check(c("header_timeout") >= 1, f"header_timeout: {c('header_timeout')}")
    check(c("idle_timeout") >= 1, f"idle_timeout: {c('idle_timeout')}")
    closed = sum(c(r) for r in ("cap", "header_timeout", "idle_timeout", "other"))
    acc = promtext.value(fams, "evapi_connections_accepted_total", listener="main")
    eq(promtext.value(fams, "evapi_connections_open", listener="main"),
       acc - closed, "open = accepted - closed")
    eq(promtext.value(fams, "evapi_connections_open", listener="main"), 1,
       "only the scrape's connection is left")
    for x in socks + [slow]:
        x.close()


@suite.test
def refusals_counted_by_reason():
    """The request checks' refusals: 400, 413, 431, 501, 505 each counted
    under its reason, and not as routed requests"""
    s = fresh(MAX_BODY_SIZE=100, MAX_HEADER_SIZE=1024)
    cases = [
        (b"GET /health HTTP/1.1\nHost: x\r\n\r\n", 400, "bad_request"),
        (b"POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n",
         413, "body_too_large"),
        (b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 2000 + b"\r\n\r\n",
         431, "head_too_large"),
        (b"BREW /health HTTP/1.1\r\nHost: x\r\n\r\n", 501, "not_implemented"),
        (b"GET /health HTTP/2.0\r\nHost: x\r\n\r\n", 505, "version_not_supported"),
    ]
    for payload, status, _ in cases:
        r, _ = parse_response(raw_exchange(s.port, payload, timeout=2))
        eq(r.status, status, payload[:40])
    fams, _, _ = scrape(s.port)
    for _, _, reason in cases:
        eq(promtext.value(fams, "evapi_requests_refused_total", reason=reason),
           1, reason)
    eq(promtext.samples(fams, "http_requests_total", route="/health"), [],
       "refusals are not routed requests")


# ---- facts ----------------------------------------------------------------------------

@suite.test
def build_info_and_process():
    """evapi_build_info{version,commit,environment} is 1 and agrees with
    /version; process_* agree with /proc"""
    s = fresh(ENVIRONMENT="metrics-test", WORKERS=3)
    v = s.get("/version").json()
    fams, _, _ = scrape(s.port)
    eq(promtext.value(fams, "evapi_build_info", version=v["version"],
                      commit=v["commit"], environment="metrics-test"), 1)
    pid = s.proc.pid
    with open(f"/proc/{pid}/status") as f:
        status = dict(l.split(":", 1) for l in f if ":" in l)
    eq(promtext.value(fams, "process_threads"), int(status["Threads"]))
    rss = promtext.value(fams, "process_resident_memory_bytes")
    check(abs(rss - int(status["VmRSS"].split()[0]) * 1024) < 4 << 20, rss)
    check(promtext.value(fams, "process_virtual_memory_bytes") >= rss, "vsize")
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    check(abs(promtext.value(fams, "process_open_fds") - fds) <= 2, fds)
    import resource
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    eq(promtext.value(fams, "process_max_fds"), soft)
    start = promtext.value(fams, "process_start_time_seconds")
    check(abs(start - (time.time() - 1)) < 30, f"start {start}")
    check(promtext.value(fams, "process_cpu_seconds_total") >= 0, "cpu")


@suite.test
def metrics_is_a_quiet_probe():
    """Scrapes stay out of the access log unless ACCESS_LOG_PROBES=on"""
    s = fresh(ACCESS_LOG="on")
    scrape(s.port)
    s.get("/nope")
    time.sleep(0.1)
    paths = [r.get("path") for r in s.log_records() if r.get("msg") == "request"]
    eq(paths, ["/nope"])
    s = fresh(ACCESS_LOG="on", ACCESS_LOG_PROBES="on")
    scrape(s.port, "/metrics?second")
    time.sleep(0.1)
    paths = [r.get("path") for r in s.log_records() if r.get("msg") == "request"]
    eq(paths[1:], ["/metrics?second"], "after the start's own scrape")


@suite.test
def shipped_in_both_builds():
    """metrics is built in by default in the static build, and a plugin of
    its own in the dynamic one"""
    if os.environ.get("EVAPI_STATIC") == "yes":
        builtins = os.environ.get("EVAPI_BUILTIN_PLUGINS", "").split()
        check("metrics" in builtins, builtins)
    else:
        check(os.path.exists(os.path.join(os.environ["EVAPI_PLUGIN_DIR"],
                                          "metrics.so")), "metrics.so")

if __name__ == "__main__":
    suite.run()
