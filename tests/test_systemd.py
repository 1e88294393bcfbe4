#!/usr/bin/env python3
"""The service manager's protocols, with real sockets the test creates.

Notification (sd_notify): a unix datagram socket named by NOTIFY_SOCKET
receives READY=1 once evapi listens, STATUS= lines, STOPPING=1 at the
drain, and WATCHDOG=1 from the event loops, which stops while one loop is
stuck. Socket activation: a listening socket made here is passed as
descriptor 3 (LISTEN_FDS=1, LISTEN_PID set by a small exec wrapper) and
served by every worker; evapi binds nothing of its own for PORT.
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

from fixtures import build, copy_builtins, plugin_dir
from evapitest import (Suite, Server, check, eq, http, skip, elsewhere, evapi_bin,
                       base_env, free_port, port_is_listening)

STATIC = os.environ.get("EVAPI_STATIC") == "yes"
suite = Suite("systemd")

# The stall fixture needs dlopen: the static build skips that case (the
# dynamic suite runs it).
if not STATIC:
    PDIR = plugin_dir(suite)
    copy_builtins(PDIR)
    build("stall.c", os.path.join(PDIR, "stall.so"))


class Manager:
    """The manager's end of NOTIFY_SOCKET: every datagram, timestamped."""

    def __init__(self, abstract=False):
        self.dir = tempfile.mkdtemp(prefix="evapi-notify-")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = f"evapi-test-{os.getpid()}-{time.monotonic_ns()}"
            self.sock.bind("\0" + name)
            self.env = "@" + name
        else:
            path = os.path.join(self.dir, "notify")
            self.sock.bind(path)
            self.env = path
        self.sock.settimeout(0.1)
        self.msgs = []  # (monotonic seconds, text)
        self.lock = threading.Lock()
        self.stop = False
        self.thread = threading.Thread(target=self._recv, daemon=True)
        self.thread.start()
        suite.cleanups.append(self.close)

    def _recv(self):
        while not self.stop:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.msgs.append((time.monotonic(), data.decode()))

    def texts(self, without_watchdog=True):
        with self.lock:
            return [m for _, m in self.msgs
                    if not (without_watchdog and m == "WATCHDOG=1")]

    def pings(self):
        with self.lock:
            return [t for t, m in self.msgs if m == "WATCHDOG=1"]

    def wait_for(self, pred, timeout=5.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pred(self.texts()):
                return True
            time.sleep(0.01)
        return False

    def close(self):
        self.stop = True
        self.thread.join(2)
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@suite.test
def ready_status_stopping_in_order():
    """READY=1 once listening, STATUS lines, STOPPING=1 at the drain, in order"""
    m = Manager()
    s = Server(suite, NOTIFY_SOCKET=m.env, WORKERS=2, DRAIN_DELAY=1,
               SHUTDOWN_TIMEOUT=5, API_PLUGINS="health")
    s.start(wait=False)
    check(m.wait_for(lambda t: len(t) >= 1), f"no READY=1: {s.stdout()}")
    # The socket listened before READY=1 was sent.
    eq(http(s.port, "/health").status, 200, "GET /health after READY=1")
    eq(m.texts()[0], f"READY=1\nSTATUS=serving on 127.0.0.1:{s.port}, "
       "2 workers", "the first message")
    t0 = time.monotonic()
    s.signal(signal.SIGTERM)
    eq(s.wait(5), 0, "exit status after SIGTERM")
    check(time.monotonic() - t0 >= 1.0, "the drain waited DRAIN_DELAY")
    check(m.wait_for(lambda t: len(t) >= 4), f"messages: {m.texts()}")
    eq(m.texts(), [
        f"READY=1\nSTATUS=serving on 127.0.0.1:{s.port}, 2 workers",
        "STOPPING=1\nSTATUS=draining (SIGTERM)",
        "STATUS=closing listeners, finishing requests in flight",
        "STATUS=stopped",
    ], "every message, in order")
    eq(m.pings(), [], "no WATCHDOG=1 without WATCHDOG_USEC")


@suite.test
def abstract_socket_and_no_socket():
    """An abstract NOTIFY_SOCKET (@name) works; a relative one is ignored"""
    m = Manager(abstract=True)
    s = Server(suite, NOTIFY_SOCKET=m.env, API_PLUGINS="health")
    s.start()
    check(m.wait_for(lambda t: len(t) >= 1), "no READY=1 on @socket")
    check(m.texts()[0].startswith("READY=1\n"), m.texts())
    eq(s.stop(), 0)
    bad = Server(suite, NOTIFY_SOCKET="relative/path", API_PLUGINS="health")
    bad.start()
    eq(bad.stop(), 0, "a bad NOTIFY_SOCKET is no reason to fail")
    check("NOTIFY_SOCKET" in bad.stdout(), "a warning names NOTIFY_SOCKET")


@suite.test
def watchdog_pings_at_half_interval():
    """WATCHDOG_USEC=400000: WATCHDOG=1 about every 200 ms from the loops"""
    m = Manager()
    s = Server(suite, NOTIFY_SOCKET=m.env, WATCHDOG_USEC=400000, WORKERS=2,
               API_PLUGINS="health")
    s.start()
    time.sleep(1.5)
    p = m.pings()
    eq(s.stop(), 0)
    check(len(p) >= 5, f"pings in 1.5 s: {len(p)}")
    gaps = [b - a for a, b in zip(p, p[1:])]
    check(max(gaps) < 0.3, f"a gap of {max(gaps):.3f} s (want ~0.2)")
    check(min(gaps) > 0.1, f"a gap of {min(gaps):.3f} s (want ~0.2)")


@suite.test
def watchdog_pid_of_another_process():
    """WATCHDOG_PID naming another process: no WATCHDOG=1, READY=1 still"""
    m = Manager()
    s = Server(suite, NOTIFY_SOCKET=m.env, WATCHDOG_USEC=200000,
               WATCHDOG_PID=1, API_PLUGINS="health")
    s.start()
    time.sleep(0.6)
    eq(s.stop(), 0)
    eq(m.pings(), [], "pings for another pid")
    check(m.texts()[0].startswith("READY=1\n"), m.texts())


@suite.test
def stuck_loop_stops_the_pings():
    """One loop blocked for 1.5 s: no WATCHDOG=1 meanwhile, pings resume after"""
    if STATIC:
        elsewhere("the stall fixture plugin needs dlopen: the dynamic suite runs it")
    m = Manager()
    probe = free_port()
    s = Server(suite, NOTIFY_SOCKET=m.env, WATCHDOG_USEC=400000, WORKERS=2,
               PROBE_PORT=probe, API_PLUGINS="health,stall",
               API_PLUGIN_DIR=PDIR)
    s.start()
    # SO_REUSEPORT picks the loop by the client's port: stall until a
    # request lands on loop 1, i.e. loop 0 (the probe port's) still
    # answers meanwhile. Each try is bounded; a few suffice.
    for attempt in range(12):
        # Both loops beat and pings flow before each stall (bounded).
        n, deadline = len(m.pings()), time.monotonic() + 3
        while len(m.pings()) < n + 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        t = threading.Thread(target=http, args=(s.port, "/stall?ms=1500"),
                             kwargs={"timeout": 5})
        t0 = time.monotonic()
        t.start()
        time.sleep(0.3)
        t1 = time.monotonic()
        try:
            loop0_free = http(probe, "/health", timeout=0.3).status == 200
        except Exception:  # noqa: BLE001 - loop 0 is the stuck one
            loop0_free = False
        loop0_free = loop0_free and time.monotonic() - t1 < 0.2
        t.join(5)
        t_end = time.monotonic()
        if loop0_free:
            break
        time.sleep(0.5)
    else:
        raise AssertionError("no request reached loop 1 in 12 tries")
    time.sleep(0.6)
    p = m.pings()
    eq(s.stop(), 0)
    # The ping right after the stall began may still pass (loop 1 beat
    # since the previous one); after that none until loop 1 runs again.
    during = [x for x in p if t0 + 0.35 < x < t0 + 1.45]
    eq(during, [], f"pings while loop 1 was stuck (attempt {attempt + 1})")
    check(any(x < t0 for x in p), "pings before the stall")
    check(any(x > t_end for x in p), "pings resume after the stall")
    gap = max(b - a for a, b in zip(p, p[1:]))
    print(f"# attempt {attempt + 1}; stall {t0:.2f}-{t_end:.2f} s; pings at "
          + " ".join(f"{x:.2f}" for x in p if t0 - 1 < x < t_end + 1))
    check(gap > 0.4, f"longest gap {gap:.2f} s exceeds WATCHDOG_USEC: the "
          "manager would restart the service")


# ---- socket activation -------------------------------------------------------

# The exec wrapper: fd LFD becomes 3, LISTEN_PID is the wrapper's own pid,
# which exec hands to evapi.
WRAPPER = ('exec 3<&"$EVAPI_TEST_LFD"; lfd=$EVAPI_TEST_LFD; exec {lfd}<&-; '
           'unset EVAPI_TEST_LFD; LISTEN_PID=$$; export LISTEN_PID; '
           'exec "$@"')


def listener(port=0):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(128)
    suite.cleanups.append(ls.close)
    return ls


def start_activated(ls, env, extra_fds=()):
    """evapi with LS as descriptor 3 (and EXTRA_FDS as 4, ...)."""
    out = tempfile.TemporaryFile(mode="w+b")
    err = tempfile.TemporaryFile(mode="w+b")
    env = dict(env, EVAPI_TEST_LFD=str(ls.fileno()),
               LISTEN_FDS=str(1 + len(extra_fds)))
    script = WRAPPER
    for i, f in enumerate(extra_fds):
        script = f'exec {4 + i}<&{f.fileno()}; ' + script
    p = subprocess.Popen(["bash", "-c", script, "evapi-exec", evapi_bin()],
                         env=env, stdout=out, stderr=err,
                         pass_fds=[ls.fileno()] + [f.fileno() for f in extra_fds])
    suite.cleanups.append(lambda: p.poll() is None and p.kill())
    return p, out, err


def read(f):
    f.flush()
    f.seek(0)
    return f.read().decode("utf-8", "replace")


def wait_http(port, path="/health", timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return http(port, path, timeout=0.5)
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(0.02)
    raise AssertionError(f"no answer on {port}{path}")


def socket_fds(pid, inode):
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]":
                n += 1
        except OSError:
            pass
    return n


@suite.test
def inherited_socket_served_by_every_worker():
    """LISTEN_FDS=1: fd 3 served by both workers; PORT not bound; READY names it"""
    m = Manager()
    ls = listener()
    lport = ls.getsockname()[1]
    unused = free_port()
    env = base_env(PORT=unused, WORKERS=2, API_PLUGINS="health,version",
                   NOTIFY_SOCKET=m.env)
    p, out, err = start_activated(ls, env)
    r = wait_http(lport)
    eq(r.status, 200, "GET /health on the inherited socket")
    check(not port_is_listening(unused), "PORT must not be bound")
    check(m.wait_for(lambda t: len(t) >= 1), "no READY=1")
    eq(m.texts()[0], f"READY=1\nSTATUS=serving on 127.0.0.1:{lport}, 2 "
       "workers (socket from the service manager)", "READY names the socket")
    inode = os.fstat(ls.fileno()).st_ino
    # One duplicate per worker plus the original evapi keeps.
    eq(socket_fds(p.pid, inode), 3, "descriptors of the inherited socket")
    codes = [http(lport, "/version").status for _ in range(50)]
    eq(codes, [200] * 50, "50 requests on fresh connections")
    p.send_signal(signal.SIGTERM)
    eq(p.wait(10), 0, f"exit status; {read(err)}")
    # The manager's copy outlives evapi, without the drain's SYN filter:
    # a new connection is queued again, for the next evapi to serve.
    with socket.create_connection(("127.0.0.1", lport), timeout=2) as c:
        c.settimeout(2)
        check(c.getpeername()[1] == lport, "connected after evapi exited")


@suite.test
def inherited_socket_after_a_drain_serves_again():
    """A second evapi on the same inherited socket serves what queued meanwhile"""
    ls = listener()
    lport = ls.getsockname()[1]
    env = base_env(PORT=free_port(), WORKERS=2, API_PLUGINS="health")
    p, _, err = start_activated(ls, env)
    eq(wait_http(lport).status, 200)
    p.send_signal(signal.SIGTERM)
    eq(p.wait(10), 0, read(err))
    result = {}

    def queued():
        try:
            result["r"] = http(lport, "/health", timeout=5)
        except Exception as e:  # noqa: BLE001 - reported below
            result["r"] = e
    t = threading.Thread(target=queued)
    t.start()
    time.sleep(0.3)
    p2, _, err2 = start_activated(ls, env)
    t.join(6)
    check(getattr(result.get("r"), "status", None) == 200,
          f"the queued request: {result.get('r')!r}")
    p2.send_signal(signal.SIGTERM)
    eq(p2.wait(10), 0, read(err2))


@suite.test
def inherited_probe_socket_by_name():
    """LISTEN_FDNAMES=http:probe: the second socket is PROBE_PORT's"""
    ls, probe = listener(), listener()
    env = base_env(PORT=free_port(), API_PLUGINS="health,version",
                   LISTEN_FDNAMES="http:probe")
    p, _, err = start_activated(ls, env, extra_fds=[probe])
    pport = probe.getsockname()[1]
    eq(wait_http(ls.getsockname()[1]).status, 200, "main socket")
    eq(wait_http(pport).status, 200, "/health on the probe socket")
    p.send_signal(signal.SIGTERM)
    eq(p.wait(10), 0, read(err))


@suite.test
def listen_pid_of_another_process_is_ignored():
    """LISTEN_PID of another process: evapi binds PORT itself"""
    env = base_env(PORT=free_port(), API_PLUGINS="health", LISTEN_FDS="1",
                   LISTEN_PID="1")
    s = Server(suite, **{k: v for k, v in env.items() if k != "PATH"})
    s.start()
    eq(s.get("/health").status, 200)
    eq(s.stop(), 0)


@suite.test
def bad_inherited_descriptor_exits_78():
    """fd 3 not a listening socket, or 3 sockets unnamed: exit 78, one line"""
    with tempfile.TemporaryFile() as f:
        env = base_env(PORT=free_port(), API_PLUGINS="health",
                       EVAPI_TEST_LFD=str(f.fileno()), LISTEN_FDS="1")
        r = subprocess.run(["bash", "-c", WRAPPER, "w", evapi_bin()], env=env,
                           pass_fds=[f.fileno()], capture_output=True,
                           text=True, timeout=10)
    eq(r.returncode, 78, r.stderr)
    check("not a listening TCP socket" in r.stderr, r.stderr)
    ls = listener()
    env = base_env(PORT=free_port(), API_PLUGINS="health",
                   EVAPI_TEST_LFD=str(ls.fileno()), LISTEN_FDS="3")
    r = subprocess.run(["bash", "-c", WRAPPER, "w", evapi_bin()], env=env,
                       pass_fds=[ls.fileno()], capture_output=True,
                       text=True, timeout=10)
    eq(r.returncode, 78, r.stderr)
    check("LISTEN_FDS=3" in r.stderr, r.stderr)


if __name__ == "__main__":
    suite.run()
