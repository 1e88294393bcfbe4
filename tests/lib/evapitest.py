"""Test helpers for evapi: a TAP reporter, the real binary, real HTTP.

Every test file is a python3 script (standard library only) that emits TAP
for automake's tap-driver. Paths come from the environment that
`make check` sets (see tests/Makefile.am part of the top Makefile.am):

  EVAPI_BIN          the evapi binary under test
  EVAPI_PLUGIN_DIR   a directory holding the built plugins (*.so)
  EVAPI_FIXTURE_DIR  fixture plugins built by the tests
  EVAPI_STATIC       "yes" when the binary is the static build
  top_srcdir, top_builddir

A test that cannot run here calls suite.skip_all(reason) or t.skip(reason);
when CI=true and the suite was created with required=True, a skip is a
failure, so CI can never go green by skipping what an issue requires.
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


class Elsewhere(Exception):
    """A case another suite of the same run covers (say, one that needs
    dlopen, in the static suite): a SKIP even in CI, never a pass."""


class SkipTest(Exception):
    pass


SERVERS = []  # every Server started, checked for sanitizer reports at the end


class Suite:
    """Collects test functions and runs them, printing TAP.

    After the tests, one more case asserts that no server this suite
    started printed a sanitizer report (ASan, UBSan, LeakSanitizer): every
    server is stopped with SIGTERM first, so LeakSanitizer runs at its
    exit."""

    def __init__(self, name, required=True):
        self.name = name
        self.required = required
        self.tests = []
        self.cleanups = []

    def test(self, fn):
        self.tests.append(fn)
        return fn

    def skip_all(self, reason):
        if CI and self.required:
            print("1..1")
            print(f"not ok 1 - {self.name}: required suite cannot run in CI: {reason}")
            sys.exit(1)
        print(f"1..0 # SKIP {reason}")
        sys.exit(0)

    def run(self):
        print(f"1..{len(self.tests) + 1}")
        failed = 0
        for i, fn in enumerate(self.tests, 1):
            desc = (fn.__doc__ or fn.__name__).strip().splitlines()[0]
            t0 = time.monotonic()
            try:
                fn()
            except Elsewhere as e:
                print(f"ok {i} - {desc} # SKIP {e}")
                continue
            except SkipTest as e:
                if CI and self.required:
                    print(f"not ok {i} - {desc} # required in CI, skipped: {e}")
                    failed += 1
                else:
                    print(f"ok {i} - {desc} # SKIP {e}")
                continue
            except Exception:
                failed += 1
                print(f"not ok {i} - {desc}")
                for line in traceback.format_exc().splitlines():
                    print(f"# {line}")
                continue
            finally:
                sys.stdout.flush()
            print(f"ok {i} - {desc} ({time.monotonic() - t0:.2f}s)")
            sys.stdout.flush()
        for c in reversed(self.cleanups):
            with contextlib.suppress(Exception):
                c()
        failed += self._sanitizer_case(len(self.tests) + 1)
        sys.exit(1 if failed else 0)

    def _sanitizer_case(self, n):
        reports, unchecked = [], 0
        for srv in SERVERS:
            with contextlib.suppress(Exception):
                srv.kill()
            err = srv.stderr()
            if lsan_tracer_crashed(err):
                unchecked += 1
            elif "Sanitizer" in err or "runtime error:" in err:
                reports.append(err)
        if reports:
            print(f"not ok {n} - servers printed no sanitizer report")
            for line in reports[0].splitlines()[:60]:
                print(f"# {line}")
            return 1
        note = (f"; the exit leak check of {unchecked} could not run: LeakSanitizer's "
                "tracer crashed (an intermittent LSan fault, google/sanitizers#1353)"
                if unchecked else "")
        print(f"ok {n} - servers printed no sanitizer report ({len(SERVERS)} servers{note})")
        return 0


def lsan_tracer_crashed(err):
    """LeakSanitizer's own thread-stopping tracer died at exit and it printed
    nothing else: the leak check did not run, which is not a finding. Any
    other report (ASan, UBSan, a leak) in the same output still counts."""
    lines = [l for l in err.splitlines() if "Sanitizer" in l or "runtime error:" in l]
    return (bool(lines) and "Tracer caught signal" in err
            and all("LeakSanitizer has encountered a fatal error" in l
                    or "HINT:" in l for l in lines))


def elsewhere(reason):
    """Skip a case that another suite of this run covers (see Elsewhere)."""
    raise Elsewhere(reason)


def skip(reason):
    raise SkipTest(reason)


def check(cond, msg="check failed"):
    if not cond:
        raise AssertionError(msg)


def eq(a, b, msg=""):
    if a != b:
        raise AssertionError(f"{msg}: {a!r} != {b!r}" if msg else f"{a!r} != {b!r}")


# --- ports and raw HTTP ------------------------------------------------------

def free_port():
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_listening(port, host="127.0.0.1"):
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


class Response:
    def __init__(self, status, reason, headers, body, raw):
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (name, value) as received
        self.body = body
        self.raw = raw

    def header(self, name):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def json(self):
        import json
        return json.loads(self.body)

    def error_json(self):
        """An error body evapi made, without its request_id, which must be
        the response's X-Request-Id."""
        body = self.json()
        rid = body.pop("request_id", None)
        if rid is None or rid != self.header("X-Request-Id"):
            raise AssertionError(f"request_id {rid!r} is not the X-Request-Id "
                                 f"{self.header('X-Request-Id')!r}")
        return body

    def __repr__(self):
        return f"<Response {self.status} {self.body[:200]!r}>"


def parse_response(data, head=False):
    """Parse one HTTP/1.x response from DATA; returns (Response, rest)."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        raise ValueError(f"incomplete response head: {data[:200]!r}")
    lines = data[:end].decode("latin-1").split("\r\n")
    proto, status, *reason = lines[0].split(" ", 2)
    headers = []
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers.append((k.strip(), v.strip()))
    rest = data[end + 4:]
    clen = None
    for k, v in headers:
        if k.lower() == "content-length":
            clen = int(v)
    if head or clen is None:
        body, rest = (b"", rest) if head else (rest, b"")
    else:
        body, rest = rest[:clen], rest[clen:]
    return Response(int(status), reason[0] if reason else "", headers, body, data), rest


def raw_exchange(port, payload, timeout=3.0, host="127.0.0.1", read_all=True):
    """Send PAYLOAD bytes, read until the server closes or TIMEOUT.

    Returns the bytes received (b"" when nothing came)."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect((host, port))
        s.sendall(payload)
        chunks = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            s.settimeout(left)
            try:
                b = s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not b:
                break
            chunks.append(b)
            if not read_all:
                break
        return b"".join(chunks)


def http(port, path, method="GET", headers=None, body=b"", timeout=3.0,
         host="127.0.0.1", version="HTTP/1.1"):
    """One request on a fresh connection with Connection: close."""
    hdrs = {"Host": "localhost", "Connection": "close"}
    hdrs.update(headers or {})
    if body:
        hdrs["Content-Length"] = str(len(body))
    head = f"{method} {path} {version}\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
    data = raw_exchange(port, head.encode() + body, timeout=timeout, host=host)
    resp, _ = parse_response(data, head=(method == "HEAD"))
    return resp


def get(port, path, **kw):
    return http(port, path, **kw)


def timed_get(port, path, timeout=3.0):
    """(seconds, Response or exception) for one GET on a fresh connection."""
    t0 = time.monotonic()
    try:
        r = http(port, path, timeout=timeout)
    except Exception as e:  # noqa: BLE001 - reported to the caller
        r = e
    return time.monotonic() - t0, r


# --- the real binary -----------------------------------------------------------

def evapi_bin():
    b = os.environ.get("EVAPI_BIN")
    if not b or not os.path.exists(b):
        raise RuntimeError("EVAPI_BIN is not set or missing; run through `make check`")
    return b


def base_env(**over):
    """A clean environment: only what evapi needs, nothing from the caller
    that could change its behaviour (no stray PORT or DATABASE_URL)."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "LOG_LEVEL": "debug", "API_PLUGINS": "health,version",
           "BIND_ADDRESS": "127.0.0.1"}
    if os.environ.get("EVAPI_PLUGIN_DIR"):
        env["API_PLUGIN_DIR"] = os.environ["EVAPI_PLUGIN_DIR"]
    for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
        if k in os.environ:
            env[k] = os.environ[k]
    for k, v in over.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = str(v)
    return env


def run_evapi(args, env, timeout=10, wrapper=None):
    """Run the binary to completion; returns CompletedProcess (text)."""
    cmd = (wrapper or []) + [evapi_bin()] + list(args)
    return subprocess.run(cmd, env=env, capture_output=True, text=True,
                          timeout=timeout)


class Server:
    """The real evapi binary on a free loopback port."""

    def __init__(self, suite=None, wrapper=None, **env):
        self.port = int(env.pop("PORT", 0)) or free_port()
        self.env = base_env(PORT=self.port, **env)
        self.wrapper = wrapper or []
        self.proc = None
        self.logfile = tempfile.TemporaryFile(mode="w+b")
        self.errfile = tempfile.TemporaryFile(mode="w+b")
        if suite is not None:
            suite.cleanups.append(self.kill)
        SERVERS.append(self)

    def start(self, wait=True, timeout=10.0, path="/health"):
        self.proc = subprocess.Popen(self.wrapper + [evapi_bin()], env=self.env,
                                     stdout=self.logfile, stderr=self.errfile)
        if wait:
            self.wait_ready(timeout=timeout, path=path)
        return self

    def wait_ready(self, timeout=10.0, path="/health"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"evapi exited {self.proc.returncode} during start: "
                    f"{self.stderr()} {self.stdout()[-2000:]}")
            try:
                http(self.port, path, timeout=0.5)
                return
            except Exception:  # noqa: BLE001 - not up yet
                time.sleep(0.02)
        raise AssertionError(f"evapi did not answer {path} within {timeout}s; logs: {self.stdout()[-2000:]}")

    def get(self, path, **kw):
        return http(self.port, path, **kw)

    def signal(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)

    def wait(self, timeout=10.0):
        return self.proc.wait(timeout=timeout)

    def stop(self, timeout=10.0):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("evapi did not stop on SIGTERM")
        return self.proc.returncode

    def kill(self):
        """Stop: SIGTERM first (so sanitizers report at exit), then KILL."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def _read(self, f):
        f.flush()
        f.seek(0)
        return f.read().decode("utf-8", "replace")

    def stdout(self):
        return self._read(self.logfile)

    def stderr(self):
        return self._read(self.errfile)

    def log_records(self):
        import json
        out = []
        for line in self.stdout().splitlines():
            out.append(json.loads(line))
        return out

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()


def child_of(pid, timeout=5.0):
    """The first child of PID (e.g. the process unshare --fork started)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/task/{pid}/children") as f:
                kids = f.read().split()
            if kids:
                return int(kids[0])
        except OSError:
            pass
        time.sleep(0.02)
    raise AssertionError("no child process appeared")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def parallel(n, fn):
    """Run FN(i) in N threads; returns the list of results (or exceptions)."""
    results = [None] * n

    def worker(i):
        try:
            results[i] = fn(i)
        except Exception as e:  # noqa: BLE001 - returned to the caller
            results[i] = e

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


class HealthSampler:
    """GET /health on a fresh connection every 20 ms in the background."""

    def __init__(self, port):
        self.port = port
        self.samples = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            dt, r = timed_get(self.port, "/health", timeout=2)
            ok = not isinstance(r, Exception) and r.status == 200
            self.samples.append((dt, ok))
            self._stop.wait(0.02)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join(5)

    def check(self, limit=0.05, stall=0.15):
        """Nine in ten samples under LIMIT, and none near a stall.

        A loop blocked by the check would delay /health by the whole
        READY_TIMEOUT_MS (300 ms in these tests); STALL stays well below
        that, so a blocked loop always fails, while one sample delayed by
        the scheduler of a loaded 2-core machine does not."""
        check(len(self.samples) >= 5, f"too few /health samples: {len(self.samples)}")
        bad = [s for s in self.samples if not s[1]]
        check(not bad, f"/health failed {len(bad)} times")
        times = sorted(dt for dt, _ in self.samples)
        p90 = times[int(len(times) * 0.9) - 1]
        worst = times[-1]
        check(p90 < limit, f"/health p90 {p90 * 1000:.1f} ms "
                 f"(limit {limit * 1000:.0f} ms) over {len(times)} samples")
        check(worst < stall, f"/health took {worst * 1000:.1f} ms once "
                 f"(a stall; limit {stall * 1000:.0f} ms)")
        return worst
