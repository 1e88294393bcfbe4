#!/usr/bin/env python3
"""Measurement logic of the evapi benchmark; bench/run prepares and calls it.

For every system (evapi, its peers) it measures start-to-first-200 and idle
RSS over a few fresh starts, then runs each load against a freshly started
server pinned to the server CPU while wrk runs pinned to the client CPU, and
reads server CPU time, peak RSS and the database transactions the load
caused. It prints markdown and writes it to BENCH_OUT.

Configuration (environment; bench/run sets it):
  BENCH_DURATION (s), BENCH_WARMUP (s), BENCH_START_RUNS, BENCH_REPEAT, BENCH_CONNECTIONS,
  BENCH_SERVER_CPUS, BENCH_CLIENT_CPUS, WORKERS, BENCH_OUT,
  EVAPI_BIN, EVAPI_PLUGIN_DIR, EVAPI_STATIC_BIN, EVAPI_SKIP (reason),
  HELLO_PLUGIN=1 / EVAPI_STATIC_HELLO=1 (the hello plugin is there),
  BENCH_METRICS=0 (skip evapi+metrics: evapi with the metrics plugin loaded
  and scraped every second, measured on /health next to evapi),
  BASELINE_NAME, BASELINE_BIN, BASELINE_PLUGIN_DIR, BASELINE_SKIP,
  NGINX_BIN, NGINX_CONF_IN, GO_PEER_BIN, NODE_PEER_JS, BENCH_ITEMS (rows
  seeded in the items table; unset: no /items loads),
  DATABASE_URL (for the servers), BENCH_PGHOST/BENCH_PGPORT/BENCH_PGDB
  (superuser access over the cluster's socket, for pg_stat_database).
"""
import datetime
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ENV = os.environ
CLK_TCK = os.sysconf("SC_CLK_TCK")


def env_int(name, default):
    return int(str(ENV.get(name) or default).rstrip("s"))


DURATION = env_int("BENCH_DURATION", 10)
WARMUP = env_int("BENCH_WARMUP", 1)
START_RUNS = env_int("BENCH_START_RUNS", 5)
REPEAT = env_int("BENCH_REPEAT", 1)
CONNS = env_int("BENCH_CONNECTIONS", 50)
WORKERS = env_int("WORKERS", 1)
SERVER_CPUS = ENV.get("BENCH_SERVER_CPUS", "0")
CLIENT_CPUS = ENV.get("BENCH_CLIENT_CPUS", "1")
DB_URL = ENV.get("DATABASE_URL", "")
PG = (ENV.get("BENCH_PGHOST"), ENV.get("BENCH_PGPORT"), ENV.get("BENCH_PGDB", "bench"))
HAVE_DB = bool(DB_URL and PG[0] and PG[1])
HELLO = "/hello/bob"
ITEMS_N = env_int("BENCH_ITEMS", 0)
# The items API: a random seeded item by id, and a create; keep-alive.
ITEM_GET, ITEM_POST = "GET /items/{id}", "POST /items"
LOADS = [(path, close) for path in ("/health", "/version", "/ready", HELLO) for close in (False, True)]
if HAVE_DB and ITEMS_N:
    LOADS += [(ITEM_GET, False), (ITEM_POST, False)]
# wrk request scripts of the loads that are not a plain GET.
SCRIPTS = {
    ITEM_GET: ("/items/1", f"""
request = function()
  return wrk.format("GET", "/items/" .. math.random(1, {ITEMS_N}))
end
"""),
    ITEM_POST: ("/items", """
wrk.method = "POST"
wrk.body = '{"name":"bench item","price_cents":1999,"tags":["bench","load"]}'
wrk.headers["Content-Type"] = "application/json"
"""),
}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- systems

class System:
    """A server under test: how to build its command line for a given port.
    SCRAPE: a path GET every second during its loads (a Prometheus)."""

    def __init__(self, name, command, endpoints, scrape=None):
        self.name, self.command, self.endpoints = name, command, endpoints
        self.scrape = scrape


def item_loads():
    return (ITEM_GET, ITEM_POST) if HAVE_DB and ITEMS_N else ()


def evapi_system(name, binary, plugin_dir, hello=False, endpoints=("/health", "/version", "/ready"),
                 items=True, metrics=False):
    plugins = (["health", "version"] + (["ready"] if HAVE_DB else []) + (["hello"] if hello else [])
               + (["items"] if items and item_loads() else []))
    plugins += ["metrics"] if metrics else []

    def command(port, _tmp):
        # Without a database the ready plugin would refuse to start.
        env = {"PORT": str(port), "BIND_ADDRESS": "127.0.0.1", "API_PLUGINS": ",".join(plugins),
               "LOG_LEVEL": ENV.get("EVAPI_LOG_LEVEL", "warn"), "WORKERS": str(WORKERS)}
        if HAVE_DB:
            env["DATABASE_URL"] = DB_URL
        if plugin_dir:
            env["API_PLUGIN_DIR"] = plugin_dir
        return [binary], env
    return System(name, command, tuple(endpoints) + ((HELLO,) if hello else ())
                  + (item_loads() if items else ()),
                  scrape="/metrics" if metrics else None)


def nginx_system(binary, template):
    def command(port, tmp):
        # A private prefix per start: pid, lock, temp paths and error log.
        prefix = tempfile.mkdtemp(prefix="nginx.", dir=tmp)
        with open(template) as f:
            conf = f.read()
        for key, val in (("@PORT@", port), ("@WORKERS@", WORKERS), ("@PREFIX@", prefix)):
            conf = conf.replace(key, str(val))
        with open(os.path.join(prefix, "nginx.conf"), "w") as f:
            f.write(conf)
        return [binary, "-p", prefix + "/", "-e", prefix + "/error.log",
                "-c", prefix + "/nginx.conf"], {}
    return System("nginx", command, ("/health", "/version"))


def go_system(binary):
    def command(port, _tmp):
        return [binary], {"PORT": str(port), "BIND_ADDRESS": "127.0.0.1", "DATABASE_URL": DB_URL}
    return System("go", command, ("/health", "/version", "/ready", HELLO) + item_loads())


def node_system(script):
    def command(port, _tmp):
        return ["node", script], {"PORT": str(port), "BIND_ADDRESS": "127.0.0.1", "DATABASE_URL": DB_URL}
    return System("node", command, ("/health",) + item_loads())


def executable(path):
    return bool(path) and os.path.isfile(path) and os.access(path, os.X_OK)


def abs_env(name):
    """An env path made absolute: evapi wants an absolute API_PLUGIN_DIR."""
    return os.path.abspath(ENV[name]) if ENV.get(name) else ""


def systems():
    """The systems found, and SKIP lines for the ones that are not."""
    found, skips = [], []
    evapi = abs_env("EVAPI_BIN")
    if executable(evapi):
        found.append(evapi_system("evapi", evapi, abs_env("EVAPI_PLUGIN_DIR"),
                                  ENV.get("HELLO_PLUGIN") == "1"))
        # The cost of counting and of being scraped, next to evapi without
        # the metrics plugin: /health only, the issue's figure.
        pdir = abs_env("EVAPI_PLUGIN_DIR")
        if ENV.get("BENCH_METRICS", "1") == "0":
            skips.append(("evapi+metrics", "BENCH_METRICS=0"))
        elif pdir and not os.path.exists(os.path.join(pdir, "metrics.so")):
            skips.append(("evapi+metrics", f"no metrics.so in {pdir}"))
        else:
            # The same plugins as evapi's plus metrics; /health loads only.
            plus = evapi_system("evapi+metrics", evapi, pdir, endpoints=("/health",), metrics=True)
            plus.endpoints = ("/health",)
            found.append(plus)
    else:
        skips.append(("evapi", ENV.get("EVAPI_SKIP") or f"no executable evapi binary ({evapi or 'EVAPI_BIN unset'})"))
    static = abs_env("EVAPI_STATIC_BIN")
    if executable(static):
        found.append(evapi_system("evapi-static", static, "", ENV.get("EVAPI_STATIC_HELLO") == "1"))
    else:
        skips.append(("evapi-static", ENV.get("EVAPI_STATIC_SKIP") or f"no executable static evapi ({static or 'EVAPI_STATIC_BIN unset'})"))
    base = abs_env("BASELINE_BIN")
    if executable(base):
        found.append(evapi_system(ENV.get("BASELINE_NAME", "evapi-baseline"), base,
                                  abs_env("BASELINE_PLUGIN_DIR"), endpoints=("/health", "/version"),
                                  items=False))
    elif ENV.get("BASELINE_SKIP"):
        skips.append(("evapi baseline", ENV["BASELINE_SKIP"]))
    nginx, template = ENV.get("NGINX_BIN", ""), ENV.get("NGINX_CONF_IN", "")
    if executable(nginx) and os.path.isfile(template):
        found.append(nginx_system(nginx, template))
    else:
        skips.append(("nginx", "nginx or its config template not found"))
    go = ENV.get("GO_PEER_BIN", "")
    if executable(go):
        found.append(go_system(go))
    else:
        skips.append(("go", f"Go peer not built ({go or 'GO_PEER_BIN unset'})"))
    node = ENV.get("NODE_PEER_JS", "")
    if node and os.path.isfile(node):
        found.append(node_system(node))
    else:
        skips.append(("node", f"Node peer not installed ({node or 'NODE_PEER_JS unset'})"))
    return found, skips


# ------------------------------------------------------------ processes

RUNNING = set()  # servers started and not yet reaped: killed on any exit


def http_get(port, path, timeout=1.0):
    """One GET on a fresh connection: (status, body), or None if nothing answers."""
    req = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(req)
            data = b""
            while chunk := s.recv(65536):
                data += chunk
    except OSError:
        return None
    head, _, body = data.partition(b"\r\n\r\n")
    parts = head.split(b" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        return None
    return int(parts[1]), body.decode(errors="replace")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One running instance of a system, pinned to the server CPUs."""

    def __init__(self, system, tmp):
        self.port = free_port()
        argv, env = system.command(self.port, tmp)
        env = {"PATH": ENV.get("PATH", "/usr/bin:/bin"), "LANG": "C", **env}
        self.log = os.path.join(tmp, f"{system.name}.log")
        with open(self.log, "ab") as logf:
            # The clock starts before fork+exec: start-to-first-200 includes
            # exec, dynamic loading, plugin loading and binding.
            self.t0 = time.perf_counter()
            self.proc = subprocess.Popen(["taskset", "-c", SERVER_CPUS, *argv], env=env,
                                         stdin=subprocess.DEVNULL, stdout=logf, stderr=logf)
        RUNNING.add(self.proc)
        self.pid = self.proc.pid  # taskset execs the server: same pid

    def wait_status(self, path, timeout=10.0):
        """Poll path in a tight loop until it answers 200; seconds since exec."""
        deadline = time.perf_counter() + timeout
        last = None
        while time.perf_counter() < deadline:
            last = http_get(self.port, path)
            if last and last[0] == 200:
                return time.perf_counter() - self.t0
            if self.proc.poll() is not None:
                raise RuntimeError(f"exited with {self.proc.returncode}; log: {self.tail()}")
            if last:  # it answers, but not 200 yet (e.g. /ready before the first DB check)
                time.sleep(0.01)
        raise RuntimeError(f"GET {path} not 200 within {timeout:.0f} s (last: {last and last[0]}); log: {self.tail()}")

    def tail(self):
        with open(self.log, errors="replace") as f:
            return " | ".join(f.read().strip().splitlines()[-3:]) or "(empty)"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        RUNNING.discard(self.proc)
        if HAVE_DB:
            db_wait_idle()


def kill_all():
    for proc in list(RUNNING):
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        RUNNING.discard(proc)


# ------------------------------------------------------------------ /proc

def process_tree(pid):
    """pid and its descendants: nginx does its work in forked workers."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo += children.get(p, [])
    return tree


def cpu_seconds(pid):
    """utime+stime of the process tree (all threads included), in seconds."""
    ticks = 0
    for p in process_tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # stat fields 14 and 15
        except (OSError, IndexError):
            pass
    return ticks / CLK_TCK


def memory_kib(pid, key):
    """Sum of a /proc/PID/status field (VmRSS, VmHWM) over the process tree."""
    total = 0
    for p in process_tree(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                total += next(int(l.split()[1]) for l in f if l.startswith(key + ":"))
        except (OSError, StopIteration):
            pass
    return total


# -------------------------------------------------------------- database

def psql(sql):
    host, port, _ = PG
    return subprocess.run(["psql", "-X", "-Atq", "-h", host, "-p", port, "-U", "postgres",
                           "-d", "postgres", "-c", sql],
                          capture_output=True, text=True, timeout=30, check=True).stdout.strip()


def db_transactions():
    """Transactions committed or rolled back in the bench database so far.
    Every query a server sends (a ping's ';' included) is one transaction."""
    return int(psql(f"select xact_commit + xact_rollback from pg_stat_database where datname = '{PG[2]}'"))


def db_wait_idle(timeout=10.0):
    """Wait until no backend serves the bench database: a backend flushes its
    statistics when it exits, while an idle one may hold them for 10 s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if psql(f"select count(*) from pg_stat_activity where datname = '{PG[2]}'") == "0":
            return
        time.sleep(0.05)


# ------------------------------------------------------------------- wrk

def wrk(port, path, close, seconds, tmp=None):
    script = os.path.join(HERE, "report.lua")
    if path in SCRIPTS:
        # The load's own request script, with the reporter appended.
        path, extra = SCRIPTS[path]
        with open(script) as f:
            report = f.read()
        script = os.path.join(tmp or tempfile.gettempdir(), f"load-{abs(hash(extra))}.lua")
        with open(script, "w") as f:
            f.write(extra + report)
    cmd = ["taskset", "-c", CLIENT_CPUS, "wrk", "-t1", f"-c{CONNS}", f"-d{seconds}s",
           "--latency", "-s", script]
    if close:  # a new TCP connection per request
        cmd += ["-H", "Connection: close"]
    cmd.append(f"http://127.0.0.1:{port}{path}")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30, check=True).stdout
    line = next(l for l in out.splitlines() if l.startswith("BENCH_JSON "))
    return json.loads(line.split(" ", 1)[1])


def pg_cpu_seconds():
    """CPU time of the whole PostgreSQL cluster (postmaster and backends)."""
    try:
        with open(os.path.join(PG[0], "data", "postmaster.pid")) as f:
            pid = int(f.readline())
    except (OSError, ValueError, TypeError):
        return None
    return cpu_seconds(pid)


# ----------------------------------------------------------- measurements

def measure_start(system, tmp):
    """Start-to-first-200 over START_RUNS fresh starts, and the idle RSS."""
    times, rss, version = [], [], ""
    for _ in range(START_RUNS):
        srv = Server(system, tmp)
        try:
            times.append(srv.wait_status("/health"))
            time.sleep(0.5)  # let it settle before reading idle memory
            rss.append(memory_kib(srv.pid, "VmRSS"))
            version = version or (http_get(srv.port, "/version") or (0, ""))[1].strip()
        finally:
            srv.stop()
    return {"start_s": statistics.median(times), "start_min": min(times), "start_max": max(times),
            "idle_kib": statistics.median(rss), "version": version}


class Scraper:
    """GET PATH every second until stopped, as a Prometheus would."""

    def __init__(self, port, path):
        self.stop = threading.Event()
        self.count = 0
        self.t = threading.Thread(target=self.run, args=(port, path), daemon=True)
        self.t.start()

    def run(self, port, path):
        while not self.stop.wait(1.0):
            if (http_get(port, path, timeout=2) or (0,))[0] == 200:
                self.count += 1

    def done(self):
        self.stop.set()
        self.t.join(5)
        return self.count


def measure_load(system, path, close, tmp):
    srv = Server(system, tmp)
    scraper = None
    try:
        srv.wait_status("/health")
        # /ready may need its first DB check; the item loads, item 1.
        probe = {ITEM_GET: "/items/1", ITEM_POST: "/items/1"}.get(path, path)
        srv.wait_status(probe, timeout=5)
        if WARMUP:  # on /health, so that no DB statistics are pending below
            wrk(srv.port, "/health", False, WARMUP)
        if path in SCRIPTS:  # warm the pool and caches on the load itself
            wrk(srv.port, path, close, 1, tmp)
        tx0 = db_transactions() if HAVE_DB else None
        db0 = pg_cpu_seconds() if HAVE_DB else None
        cpu0 = cpu_seconds(srv.pid)
        scraper = Scraper(srv.port, system.scrape) if system.scrape else None
        r = wrk(srv.port, path, close, DURATION, tmp)
        cpu = cpu_seconds(srv.pid) - cpu0
        db1 = pg_cpu_seconds() if HAVE_DB else None
        peak = memory_kib(srv.pid, "VmHWM")
    finally:
        if scraper is not None:
            scraper.done()
        srv.stop()  # also waits until its DB backends have exited
    secs, n = r["duration_us"] / 1e6, max(r["requests"], 1)
    return {"rps": r["requests"] / secs, "p50_ms": r["p50_us"] / 1e3, "p99_ms": r["p99_us"] / 1e3,
            "errors": sum(r[k] for k in ("connect", "read", "write", "status", "timeout")),
            "cpu_us": cpu * 1e6 / n, "peak_kib": peak,
            "db_qps": (db_transactions() - tx0) / secs if HAVE_DB else None,
            "db_cpu_us": (db1 - db0) * 1e6 / n if db0 is not None and db1 is not None else None}


def measure(system, tmp):
    res = {"loads": {}, "notes": []}
    log(f"== {system.name}: {START_RUNS} starts")
    res.update(measure_start(system, tmp))
    for path, close in LOADS:
        label = load_label(path, close)
        if path not in system.endpoints:
            continue
        if path == "/ready" and not HAVE_DB:
            res["notes"].append(f"SKIP {label}: no database")
            continue
        log(f"== {system.name}: {label}, {REPEAT} x {DURATION} s")
        try:
            runs = sorted((measure_load(system, path, close, tmp) for _ in range(REPEAT)),
                          key=lambda m: m["rps"])
            res["loads"][label] = {**runs[len(runs) // 2],  # the median run by req/s
                                   "peak_kib": max(m["peak_kib"] for m in runs)}
        except (RuntimeError, subprocess.SubprocessError) as e:
            res["notes"].append(f"FAIL {label}: {e}")
    return res


# ----------------------------------------------------------------- report

def load_label(path, close):
    return f"{path} {'close' if close else 'keep-alive'}"


def items_label(path):
    return load_label(path, False)


def fmt(v, spec, suffix=""):
    return "–" if v is None else format(v, spec) + suffix


def ratio(a, b):
    return "–" if not a or not b else f"{a / b:.2f}×"


def machine():
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu} × {os.cpu_count()}, Linux {platform.release()}"


def load_ratio(results, a, la, b, lb, key):
    x, y = results.get(a, {}).get("loads", {}).get(la), results.get(b, {}).get("loads", {}).get(lb)
    return x[key] / y[key] if x and y and y[key] else None


def targets(results, evs, base):
    """The figures the plugin contract is held to, each against its target."""
    rows = []
    for ev in evs:
        for close in (False, True):
            h = load_label("/health", close)
            if base:
                rows.append((f"{ev} /health {h[8:]} CPU/req ÷ {base}'s",
                             load_ratio(results, ev, h, base, h, "cpu_us"), "≤ 1.05", lambda r: r <= 1.05))
            # Issue 15: counting (and a scrape a second) must not cost the hot path.
            rows.append((f"{ev}+metrics /health {h[8:]} CPU/req ÷ {ev}'s",
                         load_ratio(results, ev + "+metrics", h, ev, h, "cpu_us"), "≤ 1.03",
                         lambda r: r <= 1.03))
        hk, hek = load_label("/health", False), load_label(HELLO, False)
        rows.append((f"{ev} {HELLO} keep-alive CPU/req ÷ its /health's",
                     load_ratio(results, ev, hek, ev, hk, "cpu_us"), "≤ 1.3", lambda r: r <= 1.3))
        rows.append((f"{ev} {HELLO} keep-alive req/s ÷ go's",
                     load_ratio(results, ev, hek, "go", hek, "rps"), "≥ 1.5", lambda r: r >= 1.5))
        for load in (ITEM_GET, ITEM_POST):
            lab = items_label(load)
            rows.append((f"{ev} {lab} req/s ÷ go's", load_ratio(results, ev, lab, "go", lab, "rps"),
                         "≥ 1.5", lambda r: r >= 1.5))
            rows.append((f"{ev} {lab} req/s ÷ node's", load_ratio(results, ev, lab, "node", lab, "rps"),
                         "≥ 2", lambda r: r >= 2))
            rows.append((f"{ev} {lab} CPU/req ÷ go's", load_ratio(results, ev, lab, "go", lab, "cpu_us"),
                         "≤ 0.6", lambda r: r <= 0.6))
    rows = [r for r in rows if r[1] is not None]
    if not rows:
        return []
    out = ["## Targets", "", "Server on one CPU (WORKERS=1), same run.", "",
           "| figure | measured | target | met |", "|---|---:|---:|---|"]
    out += [f"| {name} | {v:.2f}× | {t} | {'yes' if ok(v) else 'no'} |" for name, v, t, ok in rows]
    return out + [""]


def report(results, skips, failed):
    out = [f"# evapi benchmark, {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC", "",
           f"- Machine: {machine()}",
           f"- Load: `wrk -t1 -c{CONNS} -d{DURATION}s --latency` pinned to CPU {CLIENT_CPUS}; "
           f"close = `-H 'Connection: close'` (a new connection per request)",
           f"- Servers pinned to CPU {SERVER_CPUS}; WORKERS={WORKERS}; a fresh server per load, "
           f"{WARMUP} s warm-up on /health first; each load run {REPEAT} time(s), the median by req/s shown",
           f"- Start-to-first-200 and idle RSS: median of {START_RUNS} starts", ""]
    out += [f"SKIP {name}: {why}" for name, why in skips] + ([""] if skips else [])
    for name, r in results.items():
        out += [f"## {name}", "", f"/version: `{r['version'][:200] or '–'}`", "",
                "| load | req/s | p50 | p99 | errors | CPU µs/req | DB q/s | DB CPU µs/req |",
                "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for label, m in r["loads"].items():
            out.append(f"| {label} | {m['rps']:,.0f} | {m['p50_ms']:.2f} ms | {m['p99_ms']:.2f} ms "
                       f"| {m['errors']} | {m['cpu_us']:.1f} | {fmt(m['db_qps'], '.1f')} "
                       f"| {fmt(m.get('db_cpu_us'), '.1f')} |")
        out += [""] + r["notes"] + ([""] if r["notes"] else [])
    if results:
        out += ["## Summary", "", "| system | idle RSS | peak RSS | start-to-first-200 (min–max) |",
                "|---|---:|---:|---:|"]
    for name, r in results.items():
        peaks = [m["peak_kib"] for m in r["loads"].values()]
        r["peak_kib"] = max(peaks) if peaks else None
        out.append(f"| {name} | {r['idle_kib'] / 1024:.1f} MiB | {fmt(r['peak_kib'] and r['peak_kib'] / 1024, '.1f', ' MiB')} "
                   f"| {r['start_s'] * 1e3:.1f} ms ({r['start_min'] * 1e3:.1f}–{r['start_max'] * 1e3:.1f}) |")
    out.append("")
    base = ENV.get("BASELINE_NAME") if ENV.get("BASELINE_NAME") in results else None
    evs = [n for n in results if n.startswith("evapi") and n != base and not n.endswith("+metrics")]
    out += targets(results, evs, base)
    for ev in evs:
        for peer in [n for n in results if not n.startswith("evapi")] + ([base] if base else []):
            a, b = results[ev], results[peer]
            out += [f"## {ev} vs {peer}", "",
                    f"Ratios {ev}/{peer}: req/s above 1 and the others below 1 favour {ev}.", "",
                    "| load | req/s ratio | CPU/req ratio |", "|---|---:|---:|"]
            for label in a["loads"]:
                if label in b["loads"]:
                    x, y = a["loads"][label], b["loads"][label]
                    out.append(f"| {label} | {ratio(x['rps'], y['rps'])} | {ratio(x['cpu_us'], y['cpu_us'])} |")
            out += ["", f"Idle RSS ratio {ratio(a['idle_kib'], b['idle_kib'])}, "
                        f"peak RSS ratio {ratio(a['peak_kib'], b['peak_kib'])}, "
                        f"start ratio {ratio(a['start_s'], b['start_s'])}.", ""]
    pairs = [(name, r["loads"].get("/health keep-alive"), r["loads"].get("/ready keep-alive"))
             for name, r in results.items()]
    pairs = [(name, h, rd) for name, h, rd in pairs if h and rd]
    if pairs:
        out += ["## /ready vs /health (keep-alive)", "",
                "| system | /health req/s | /ready req/s | ready/health | DB q/s under /health | DB q/s under /ready |",
                "|---|---:|---:|---:|---:|---:|"]
    for name, h, rd in pairs:
        out.append(f"| {name} | {h['rps']:,.0f} | {rd['rps']:,.0f} | {ratio(rd['rps'], h['rps'])} "
                   f"| {fmt(h['db_qps'], '.1f')} | {fmt(rd['db_qps'], '.1f')} |")
    out += ["", "Result: " + ("FAILED: " + "; ".join(failed) if failed else "ok"), ""]
    return "\n".join(out)


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    # The harness itself (and the start-to-first-200 poller) runs on the
    # client CPU, never beside the server.
    os.sched_setaffinity(0, {int(c) for c in CLIENT_CPUS.split(",")})
    found, skips = systems()
    for name, why in skips:
        log(f"SKIP {name}: {why}")
    results, failed = {}, []
    with tempfile.TemporaryDirectory(prefix="evapi-bench.") as tmp:
        try:
            for system in found:
                try:
                    results[system.name] = measure(system, tmp)
                except (RuntimeError, subprocess.SubprocessError) as e:
                    skips.append((system.name, f"failed: {e}"))
                    failed.append(system.name)
                    continue
                failed += [f"{system.name} {n[5:]}" for n in results[system.name]["notes"] if n.startswith("FAIL")]
        finally:
            kill_all()
    if ENV.get("BENCH_REQUIRE_EVAPI") == "1" and "evapi" not in results:
        failed.append("evapi required (BENCH_REQUIRE_EVAPI=1) but not measured")
    text = report(results, skips, failed)
    print(text)
    if ENV.get("BENCH_OUT"):
        os.makedirs(os.path.dirname(ENV["BENCH_OUT"]) or ".", exist_ok=True)
        with open(ENV["BENCH_OUT"], "w") as f:
            f.write(text)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
