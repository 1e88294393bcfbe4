#!/usr/bin/env python3
"""A real Prometheus (Debian's prometheus package) scrapes a real evapi:
its own data directory, 127.0.0.1 only, a scrape every second. Its HTTP
API must show the target up and http_requests_total rising with the
requests sent; every query of the Grafana dashboard shipped in
deploy/grafana names only metrics evapi exports and returns data here."""

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request

from evapitest import Suite, Server, check, eq, free_port, http, skip
import promtext

suite = Suite("prometheus")
PROM = shutil.which("prometheus")
if PROM is None:
    suite.skip_all("prometheus not installed (Debian package prometheus; "
                   "scripts/deps.sh test installs it)")
DASHBOARD = os.path.join(os.environ.get("top_srcdir", "."), "deploy", "grafana",
                         "evapi-dashboard.json")
# Named by the dashboard, registered by plugins/pg (which ready brings)
# through the same contract as any plugin's.
EXPECTED_FROM_PG = {"evapi_db_pool_size", "evapi_db_pool_busy",
                    "evapi_db_pool_waiters", "evapi_db_pool_timeouts_total"}


class Prometheus:
    def __init__(self, targets):
        self.dir = tempfile.mkdtemp(prefix="evapi-prom-")
        self.port = free_port()
        cfg = os.path.join(self.dir, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "  evaluation_interval: 1s\nscrape_configs:\n"
                    "  - job_name: evapi\n    metrics_path: /metrics\n"
                    "    static_configs:\n      - targets: [%s]\n"
                    % ", ".join(f"'127.0.0.1:{p}'" for p in targets))
        self.log = open(os.path.join(self.dir, "prometheus.log"), "w+")
        self.proc = subprocess.Popen(
            [PROM, f"--config.file={cfg}",
             f"--storage.tsdb.path={os.path.join(self.dir, 'data')}",
             f"--web.listen-address=127.0.0.1:{self.port}",
             "--storage.tsdb.retention.time=1h", "--log.level=warn"],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=self.dir)
        suite.cleanups.append(self.stop)
        self.wait_ready()

    def get(self, path, **params):
        url = f"http://127.0.0.1:{self.port}{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read()

    def wait_ready(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"prometheus exited: {self.logs()}")
            try:
                if self.get("/-/ready")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"prometheus not ready: {self.logs()}")

    def query(self, expr):
        status, body = self.get("/api/v1/query", query=expr)
        doc = json.loads(body)
        eq((status, doc["status"]), (200, "success"), expr)
        return doc["data"]["result"]

    def poll(self, expr, want, timeout=20):
        """The first result of EXPR for which WANT(result) holds."""
        deadline = time.monotonic() + timeout
        res = None
        while time.monotonic() < deadline:
            res = self.query(expr)
            if want(res):
                return res
            time.sleep(0.25)
        raise AssertionError(f"{expr}: last result {res}")

    def logs(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()[-3000:]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def scalar(res):
    return float(res[0]["value"][1]) if res else None


# One evapi with every shipped plugin that exports metrics, a real
# database for /ready, scraped on PROBE_PORT.
import pgcluster  # noqa: E402
PG = pgcluster.for_suite(suite, suite.skip_all)
PROBE = free_port()
SRV = Server(suite, API_PLUGINS="health,version,ready,metrics", WORKERS=2,
             PROBE_PORT=PROBE, DATABASE_URL=PG.url(), READY_CACHE_MS=500,
             LOG_LEVEL="warn").start()
P = Prometheus([PROBE])


class Traffic:
    """Requests in the background while the queries run, so that rate()
    over the last seconds has something to see."""

    def __init__(self):
        self.stop = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.stop.is_set():
            for path in ("/health", "/version", "/ready", "/nope"):
                try:
                    http(SRV.port, path, timeout=2)
                except OSError:
                    pass
            time.sleep(0.05)


@suite.test
def target_up():
    """Prometheus scrapes evapi: up{job="evapi"} is 1, the scrape has no
    errors, and evapi_build_info is stored with its labels"""
    res = P.poll('up{job="evapi"}', lambda r: r and r[0]["value"][1] == "1")
    eq(res[0]["metric"]["instance"], f"127.0.0.1:{PROBE}")
    status, body = P.get("/api/v1/targets")
    t = json.loads(body)["data"]["activeTargets"][0]
    eq((t["health"], t["lastError"]), ("up", ""))
    v = SRV.get("/version").json()
    res = P.poll("evapi_build_info", lambda r: bool(r))
    eq((res[0]["metric"]["version"], res[0]["metric"]["commit"]),
       (v["version"], v["commit"]))


@suite.test
def requests_total_rises():
    """http_requests_total for /health in Prometheus rises by exactly the
    requests sent"""
    expr = 'http_requests_total{route="/health",method="GET",code="200"}'
    SRV.get("/health")
    before = scalar(P.poll(expr, bool))
    # The next scrape must see what was sent: wait for it to settle first.
    time.sleep(1.5)
    before = scalar(P.query(expr))
    for _ in range(25):
        eq(SRV.get("/health").status, 200)
    res = P.poll(expr, lambda r: r and float(r[0]["value"][1]) >= before + 25)
    eq(scalar(res), before + 25)
    res = P.poll(f"rate({expr}[10s])", lambda r: r and float(r[0]["value"][1]) > 0)
    check(scalar(res) > 0, res)


def dashboard_queries():
    with open(DASHBOARD) as f:
        dash = json.load(f)
    out = []
    for p in dash["panels"]:
        for t in p.get("targets", []):
            out.append((p["title"], t["expr"]))
    check(len(out) >= 15, f"{len(out)} queries")
    return dash, out


KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right",
            "bool", "and", "or", "unless", "offset", "inf", "nan"}


def metric_names(expr):
    """The metric names a PromQL expression selects: strings, label
    matchers, ranges and grouping lists removed; identifiers not called as
    functions."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    e = re.sub(r"\{[^}]*\}", "", e)
    e = re.sub(r"\[[^\]]*\]", "", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)",
               " ", e)
    names = set()
    for m in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", e):
        rest = e[m.end():].lstrip()
        if rest.startswith("(") or m.group(0).lower() in KEYWORDS:
            continue
        if re.match(r"\d", e[m.start() - 1:m.start()] or " "):
            continue  # the e of 1e3
        names.add(m.group(0))
    return names


@suite.test
def dashboard_names_only_exported_metrics():
    """Every query of deploy/grafana/evapi-dashboard.json names metrics
    evapi exports (histogram series included), the pool's from plugins/pg
    included; the dashboard covers requests, errors, latency, connections,
    readiness and the pool"""
    eq(metric_names('histogram_quantile(0.99, sum by (route, le) '
                    '(rate(a_bucket{x="y{"}[5m]))) / b or vector(0)'),
       {"a_bucket", "b"}, "the extractor itself")
    fams = promtext.parse(http(PROBE, "/metrics").body)
    exported = set()
    for name, f in fams.items():
        exported.add(name)
        if f.type == "histogram":
            exported |= {name + "_bucket", name + "_sum", name + "_count"}
    eq(EXPECTED_FROM_PG - exported, set(), "the pool's metrics plugins/pg exports")
    _, queries = dashboard_queries()
    named = set()
    for title, expr in queries:
        names = metric_names(expr)
        check(names, f"{title}: no metric in {expr}")
        unknown = names - exported
        eq(unknown, set(), f"{title}: {expr}")
        named |= names
    for must in ("http_requests_total", "http_request_duration_seconds_bucket",
                 "evapi_connections_open", "evapi_ready_check_success",
                 "evapi_db_pool_busy"):
        check(must in named, f"the dashboard shows {must}")


@suite.test
def dashboard_queries_return_data():
    """Each dashboard query, with its variables set as Grafana would, returns
    data from this Prometheus, the pool's included"""
    traffic = Traffic()
    try:
        time.sleep(4)  # a few scrapes with traffic in every rate window
        _, queries = dashboard_queries()
        for title, expr in queries:
            q = (expr.replace("$__rate_interval", "10s")
                     .replace('"$job"', '".*"').replace('"$instance"', '".*"'))
            res = P.poll(q, bool, timeout=10)
            check(res, f"{title}: {q} returned nothing")
    finally:
        traffic.stop.set()
        traffic.t.join(5)


if __name__ == "__main__":
    suite.run()
