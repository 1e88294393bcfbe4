#!/usr/bin/env python3
"""The ready plugin against a real PostgreSQL started by the test.

Covers issue 3: /ready 200 and 503 with a safe reason, a database down at
start, stopped mid-run (fast, immediate, postmaster killed) and back
without restarting evapi, a wrong password, hanging databases (a listener
that never answers, an address that never accepts) while /health keeps
answering fast, coalescing and caching counted on the server side,
draining on SIGTERM, configuration errors, both connection-string forms,
host names resolved without a blocking lookup, several hosts, unix
sockets, several event loops.
"""

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))

import blackhole  # noqa: E402
import evapitest as et  # noqa: E402
import pgcluster  # noqa: E402

# Required in the dynamic build; the static build cannot run the LD_PRELOAD
# case, which the dynamic run covers.
suite = et.Suite("ready", required=os.environ.get("EVAPI_STATIC") != "yes")

OK_BODY = {"status": "ok", "checks": {"database": "ok"}}


pg = pgcluster.shared(suite, et.skip, ssl=True)  # started once


def server(url, **env):
    env.setdefault("API_PLUGINS", "health,ready")
    env.setdefault("WORKERS", 1)
    # One connection per loop: the counts below are of connections.
    env.setdefault("DB_POOL_SIZE", 1)
    return et.Server(suite, DATABASE_URL=url, **env)


def no_secret(srv, *secrets):
    out = srv.stdout() + srv.stderr()
    for s in secrets:
        et.check(s not in out, "a password appears in evapi's output")


def reason(resp):
    return resp.json()["checks"]["database"]


def poll(srv, path, want, timeout, interval=0.05):
    """GET PATH until its status is WANT; returns (seconds, response)."""
    t0 = time.monotonic()
    last = None
    while time.monotonic() - t0 < timeout:
        try:
            last = srv.get(path, timeout=2)
            if last.status == want:
                return time.monotonic() - t0, last
        except Exception as e:  # noqa: BLE001 - keep polling
            last = e
        time.sleep(interval)
    raise AssertionError(f"{path} did not answer {want} within {timeout}s: {last!r}")


HealthSampler = et.HealthSampler


# --- configuration ---------------------------------------------------------

@suite.test
def test_missing_url():
    """DATABASE_URL unset: exit 78 before binding, naming DATABASE_URL"""
    port = et.free_port()
    env = et.base_env(PORT=port, API_PLUGINS="health,ready", DATABASE_URL=None)
    r = et.run_evapi([], env)
    et.eq(r.returncode, 78, "exit status")
    et.check("DATABASE_URL" in r.stderr, f"stderr does not name DATABASE_URL: {r.stderr!r}")
    et.check(not et.port_is_listening(port), "the port is bound")


@suite.test
def test_bad_urls():
    """unparsable DATABASE_URL: exit 78, names it, never prints the password"""
    secret = "Zq7SecretPw"
    for url in (f"postgresql://evapi:{secret}@127.0.0.1:5432/postgres?no_such_option=1",
                f"postgresql://evapi:{secret}@127.0.0.1:5432/postgres?password={secret}&x=%zz",
                f"host=127.0.0.1 password={secret} dbname",
                f"host=127.0.0.1 password='{secret}",
                f"host=127.0.0.1 nosuchkey=1 password={secret}",
                "   "):
        port = et.free_port()
        env = et.base_env(PORT=port, API_PLUGINS="health,ready", DATABASE_URL=url)
        r = et.run_evapi([], env)
        et.eq(r.returncode, 78, f"exit status for {url!r}")
        et.check("DATABASE_URL" in r.stderr, f"stderr does not name DATABASE_URL: {r.stderr!r}")
        et.check(secret not in r.stderr + r.stdout, f"the password leaked: {r.stderr!r}")
        et.check(not et.port_is_listening(port), "the port is bound")


# Hostile DATABASE_URLs: (url, pieces of the password that must never be
# printed, exit status expected or None, text the error must contain).
HOSTILE = [
    # libpq wants the scheme in lower case; it is still meant as a URI.
    ("POSTGRESQL://app:Zq7SecretPw@127.0.0.1/app", ("Zq7SecretPw",), 78,
     "postgresql:// URI"),
    ("PoStGrEs://app:Zq7SecretPw@127.0.0.1/app", ("Zq7SecretPw",), 78,
     "lower case"),
    # '?' and '#' do not end libpq's userinfo; '#' does not end a value.
    ("postgresql://app:Zq7Sec?retPw@127.0.0.1/app?foo=1", ("Zq7Sec", "retPw"), 78,
     "postgresql:// URI"),
    ("postgresql://app:Zq7Sec#retPw@127.0.0.1/app", ("Zq7Sec", "retPw"), None, ""),
    ("postgresql://app@127.0.0.1/app?password=Zq7Sec#retPw&nosuch=1",
     ("Zq7Sec", "retPw"), 78, "postgresql:// URI"),
    # An unencoded '@' or '/' would move part of the password into the
    # host or port: refused before libpq sees it.
    ("postgresql://app:Zq7Sec@retPw@127.0.0.1/app", ("Zq7Sec", "retPw"), 78, "%40"),
    ("postgresql://app:Zq7Sec/retPw@127.0.0.1/app", ("Zq7Sec", "retPw"), 78, "%40"),
    # key=value: a backslash escapes a space in an unquoted value.
    ("host=127.0.0.1 password=Zq7Sec\\ retPw nosuch=1", ("Zq7Sec", "retPw"), 78,
     "key=value"),
    ("host=127.0.0.1 password='Zq7Sec\\' retPw' nosuch=1", ("Zq7Sec", "retPw"), 78,
     "key=value"),
    # Every key containing "password", in both forms.
    ("host=127.0.0.1 sslpassword=Zq7SecretPw nosuch=1", ("Zq7SecretPw",), 78, ""),
    ("postgresql://app@127.0.0.1/app?sslpassword=Zq7SecretPw&nosuch=1",
     ("Zq7SecretPw",), 78, ""),
    ("postgresql://app@127.0.0.1/app?ssl%70assword=Zq7SecretPw&nosuch=1",
     ("Zq7SecretPw",), 78, ""),
    # A database name that is itself a connection string is not expanded
    # (the server would echo it in its error): refused, hidden whole.
    ("host=127.0.0.1 dbname=postgresql://u:Zq7SecretPw@h/db", ("Zq7SecretPw",), 78,
     "dbname is itself a connection string"),
    ("host=127.0.0.1 dbname='host=h password=Zq7SecretPw'", ("Zq7SecretPw",), 78,
     "dbname is itself a connection string"),
    ("postgresql://app@127.0.0.1/postgresql%3A%2F%2Fu%3AZq7SecretPw%40h", ("Zq7SecretPw",),
     78, "dbname is itself a connection string"),
    ("postgresql://app@127.0.0.1/app?dbname=password%3DZq7SecretPw", ("Zq7SecretPw",),
     78, "dbname is itself a connection string"),
]


@suite.test
def test_hostile_urls():
    """--check-config on hostile DATABASE_URLs never prints any password byte"""
    for url, secrets, status, text in HOSTILE:
        env = et.base_env(PORT=et.free_port(), API_PLUGINS="health,ready",
                          DATABASE_URL=url)
        r = et.run_evapi(["--check-config"], env)
        out = r.stdout + r.stderr
        for s in secrets:
            et.check(s not in out, f"{s!r} of {url!r} leaked: {out!r}")
        if status is not None:
            et.eq(r.returncode, status, f"exit status for {url!r}: {out!r}")
            et.check("DATABASE_URL" in r.stderr, f"DATABASE_URL not named: {out!r}")
        et.check(text in r.stderr, f"{text!r} not in the error for {url!r}: {out!r}")


# DATABASE_URLs libpq accepts but could never connect with: --check-config
# finds them (exit 78, one line naming what is wrong, no password byte).
TARGETS_BAD = [
    ("postgresql://app:Zq7SecretPw@db.example:70000/app", {}, "port"),
    ("postgresql://app:Zq7SecretPw@db.example:0/app", {}, "port"),
    ("postgresql://app:Zq7SecretPw@db.example:5432x/app", {}, None),
    ("host=db.example port=5432,99999 password=Zq7SecretPw", {}, "port"),
    ("postgresql://app:Zq7SecretPw@db.example/app", {"PGPORT": "65536"},
     "PGPORT"),
    ("postgresql://app:Zq7SecretPw@:5432/app", {}, "host is empty"),
    ("postgresql://app:Zq7SecretPw@/app", {}, "host is empty"),
    ("postgresql://:5432/app", {}, "host is empty"),
    ("host='' port=5432 password=Zq7SecretPw", {}, "host is empty"),
    ("postgresql://app@db.example/app?host=", {}, "host is empty"),
    ("postgresql://app@a.example,,b.example/app", {}, "host is empty"),
]
TARGETS_GOOD = [
    ("postgresql://app:pw@db.example:5432/app", {}),
    ("postgresql://app:pw@db.example:1,db2.example:65535/app", {}),
    ("postgresql:///app", {}),                       # the default socket
    ("postgresql:///app?host=/run/postgresql", {}),  # a socket directory
    ("postgresql://app@:5432/app", {"PGHOST": "db.example"}),
    ("host=db.example dbname=app", {"PGPORT": "6543"}),
]


@suite.test
def test_check_config_target():
    """--check-config refuses a DATABASE_URL whose port is outside 1-65535
    or whose host is empty, with one clear line; socket forms pass"""
    for url, extra, text in TARGETS_BAD:
        env = et.base_env(PORT=et.free_port(), API_PLUGINS="health,ready",
                          DATABASE_URL=url, **extra)
        r = et.run_evapi(["--check-config"], env)
        et.eq(r.returncode, 78, f"{url!r} {extra}: {r.stderr!r}")
        et.eq(r.stdout, "", f"stdout for {url!r}")
        lines = r.stderr.splitlines()
        et.eq(len(lines), 1, f"one line for {url!r}: {r.stderr!r}")
        et.check("DATABASE_URL" in lines[0], lines[0])
        et.check(text is None or text in lines[0], f"{text!r}: {lines[0]}")
        et.check("Zq7SecretPw" not in r.stderr, f"password shown: {lines[0]}")
    for url, extra in TARGETS_GOOD:
        env = et.base_env(PORT=et.free_port(), API_PLUGINS="health,ready",
                          DATABASE_URL=url, **extra)
        r = et.run_evapi(["--check-config"], env)
        et.eq(r.returncode, 0, f"{url!r} {extra}: {r.stderr!r}")


@suite.test
def test_bad_numbers():
    """READY_TIMEOUT_MS / READY_CACHE_MS out of range: exit 78 naming them"""
    for name, value in (("READY_TIMEOUT_MS", "abc"), ("READY_TIMEOUT_MS", "0"),
                        ("READY_CACHE_MS", "-1"), ("READY_CACHE_MS", "99999999")):
        env = et.base_env(PORT=et.free_port(), API_PLUGINS="health,ready",
                          DATABASE_URL="postgresql://u@127.0.0.1/db", **{name: value})
        r = et.run_evapi([], env)
        et.eq(r.returncode, 78, f"exit status for {name}={value}")
        et.check(name in r.stderr, f"stderr does not name {name}: {r.stderr!r}")


# --- the happy path ----------------------------------------------------------

@suite.test
def test_first_check_by_itself():
    """The first check runs shortly after start with no probe, and is logged"""
    p = pg()
    with server(p.url()) as s:
        s.start(wait=False)
        # No /ready: only the start-up timer can run this check.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if '"msg":"ready: database ready"' in s.stdout():
                break
            time.sleep(0.02)
        et.check('"msg":"ready: database ready"' in s.stdout(),
                 f"no check within 5 s of start: {s.stdout()[-500:]}")
        s.wait_ready()
        et.eq(s.get("/ready").status, 200)


@suite.test
def test_ready_uri():
    """URI form: GET /ready 200 with the documented body; HEAD too"""
    p = pg()
    with server(p.url()) as s:
        s.start()
        r = s.get("/ready")
        et.eq(r.status, 200, f"status {r.body!r}")
        et.eq(r.json(), OK_BODY)
        et.eq(r.header("Content-Type"), "application/json")
        h = et.http(s.port, "/ready", method="HEAD")
        et.eq(h.status, 200, "HEAD status")
        et.eq(h.body, b"", "HEAD body")
        et.eq(s.get("/health").status, 200)
        no_secret(s, p.password)
    # A percent-encoded parameter name is still the password to libpq; the
    # logs must not show it either.
    url = f"postgresql://{p.USER}@127.0.0.1:{p.port}/{p.DB}?%70assword={p.password}"
    with server(url) as s:
        s.start()
        et.eq(s.get("/ready").status, 200)
        no_secret(s, p.password)


@suite.test
def test_ready_keyvalue_and_socket():
    """key=value form over TCP and over the unix socket; sslmode passes through"""
    p = pg()
    for url in (p.keyvalue() + " sslmode=disable connect_timeout=5",
                f"host={p.sockdir} port={p.port} user={p.USER} "
                f"password={p.password} dbname={p.DB}"):
        with server(url) as s:
            s.start()
            r = s.get("/ready")
            et.eq(r.status, 200, f"{r.body!r}")
            no_secret(s, p.password)


@suite.test
def test_tls():
    """TLS: verify-full checks the certificate against the host name while evdns supplies the address"""
    p = pg()
    if not p.ssl:
        et.skip("no openssl tool to make a certificate")
    root = f"&sslrootcert={p.cert}"
    # "localhost" is resolved by evdns and handed to libpq as hostaddr;
    # libpq must still verify the certificate against "localhost".
    with server(p.url(host="localhost", extra=f"?sslmode=verify-full{root}")) as s:
        s.start()
        r = s.get("/ready")
        et.eq(r.status, 200, f"{r.body!r}")
    # The same certificate does not name 127.0.0.1: refused.
    with server(p.url(extra=f"?sslmode=verify-full{root}")) as s:
        s.start()
        r = s.get("/ready")
        et.eq(r.status, 503)
        et.eq(reason(r), "tls error")
    # sslmode=require: the server sees our one connection encrypted.
    with server(p.url(extra="?sslmode=require")) as s:
        s.start()
        et.eq(s.get("/ready").status, 200)
        out = p.psql("SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a "
                     "USING (pid) WHERE a.application_name = 'evapi' AND s.ssl")
        et.eq(out.strip(), "1", "TLS connections of evapi")


@suite.test
def test_multi_host():
    """several hosts: a refused first host falls through to the next"""
    p = pg()
    dead = et.free_port()
    url = (f"postgresql://{p.USER}:{p.password}@127.0.0.1:{dead},"
           f"localhost:{p.port}/{p.DB}")
    with server(url) as s:
        s.start()
        et.eq(s.get("/ready").status, 200)
        no_secret(s, p.password)


GAI_SHIM = r"""
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* A slow resolver: every getaddrinfo() of a host name (not of a numeric
 * address) is logged and takes 1.5 s, like a DNS server that is down. */
typedef int (*gai_fn)(const char *, const char *, const struct addrinfo *,
                      struct addrinfo **);

int getaddrinfo(const char *node, const char *service,
                const struct addrinfo *hints, struct addrinfo **res)
{
    static gai_fn real;
    unsigned char buf[16];

    if (!real)
        real = (gai_fn)dlsym(RTLD_NEXT, "getaddrinfo");
    if (node && !(hints && (hints->ai_flags & AI_NUMERICHOST)) &&
        inet_pton(AF_INET, node, buf) != 1 &&
        inet_pton(AF_INET6, node, buf) != 1) {
        const char *log = getenv("GAI_SHIM_LOG");
        if (log) {
            int fd = open(log, O_WRONLY | O_APPEND | O_CREAT, 0600);
            if (fd >= 0) {
                dprintf(fd, "%s\n", node);
                close(fd);
            }
        }
        usleep(1500000);
    }
    return real(node, service, hints, res);
}
"""


@suite.test
def test_hostname_no_blocking_lookup():
    """host name "localhost": resolved by evdns, never by a blocking getaddrinfo"""
    if os.environ.get("EVAPI_STATIC") == "yes":
        et.skip("LD_PRELOAD cannot interpose in a static binary")
    cc = os.environ.get("EVAPI_CC", "cc").split()
    p = pg()
    with tempfile.TemporaryDirectory() as d:
        src, so, log = (os.path.join(d, n) for n in ("gai.c", "gai.so", "calls"))
        with open(src, "w") as f:
            f.write(GAI_SHIM)
        r = subprocess.run(cc + ["-shared", "-fPIC", "-o", so, src, "-ldl"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            et.skip(f"cannot build the getaddrinfo shim: {r.stderr[-300:]}")
        # Control: the shim does catch an ordinary lookup.
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
               "LD_PRELOAD": so, "GAI_SHIM_LOG": log}
        subprocess.run(["getent", "ahosts", "localhost"], env=env,
                       capture_output=True, timeout=10)
        et.check(os.path.exists(log) and "localhost" in open(log).read(),
                 "control failed: the shim did not see getent's lookup")
        os.unlink(log)

        asan = os.environ.get("ASAN_OPTIONS", "")
        # No cache: the /ready below resolves, connects and queries anew.
        with server(p.url(host="localhost"), READY_TIMEOUT_MS=1000,
                    READY_CACHE_MS=0, LD_PRELOAD=so, GAI_SHIM_LOG=log,
                    ASAN_OPTIONS=(asan + ":" if asan else "") +
                    "verify_asan_link_order=0") as s:
            s.start()
            time.sleep(0.3)  # the check started at boot is over
            with HealthSampler(s.port) as hs:
                time.sleep(0.1)
                dt, r = et.timed_get(s.port, "/ready")
                time.sleep(0.2)
            et.check(not isinstance(r, Exception), f"/ready failed: {r!r}")
            et.eq(r.status, 200, f"/ready {r.body!r}")
            et.check(dt < 1.0, f"/ready took {dt:.3f}s")
            hs.check()
            calls = open(log).read() if os.path.exists(log) else ""
            et.eq(calls, "", "getaddrinfo() was called for a host name")


# --- database faults -----------------------------------------------------------

@suite.test
def test_down_at_start():
    """database down at start: evapi starts, /health 200, /ready 503 fast, then 200 once it is up"""
    cluster = None
    try:
        try:
            cluster = pgcluster.PgCluster(start=False)
        except pgcluster.PgUnavailable as e:
            et.skip(str(e))
        with server(cluster.url(), READY_CACHE_MS=200) as s:
            s.start()
            et.eq(s.get("/health").status, 200)
            dt, r = et.timed_get(s.port, "/ready")
            et.eq(r.status, 503)
            et.eq(reason(r), "connection refused")
            et.check(dt < 0.1, f"/ready took {dt:.3f}s")
            # Backing off: a check answers at once from the last failure.
            for _ in range(5):
                dt, r = et.timed_get(s.port, "/ready")
                et.eq(r.status, 503)
                et.check(dt < 0.1, f"/ready took {dt:.3f}s while backing off")
                time.sleep(0.05)
            cluster.start()
            dt, _ = poll(s, "/ready", 200, timeout=10)
            et.eq(s.proc.poll(), None, "evapi exited")
            print(f"# back to 200 {dt:.2f}s after the database started")
            no_secret(s, cluster.password)
    finally:
        if cluster:
            cluster.cleanup()


def fault_cycle(stop):
    """/ready 200, STOP(pg) makes it 503 within one check, 200 again after
    a restart, all without restarting evapi."""
    p = pg()
    cache, timeout = 500, 500
    with server(p.url(), READY_CACHE_MS=cache, READY_TIMEOUT_MS=timeout) as s:
        s.start()
        et.eq(s.get("/ready").status, 200)
        stop(p)
        dt, r = poll(s, "/ready", 503, timeout=(cache + timeout) / 1000 + 1.0)
        print(f"# 503 ({reason(r)}) {dt:.3f}s after the stop")
        et.check(reason(r) in ("connection refused", "server shutting down",
                               "connection lost", "timeout"),
                 f"unexpected reason {reason(r)!r}")
        # Stays unavailable, and every answer is fast (cached or backing off).
        for _ in range(5):
            dt, r = et.timed_get(s.port, "/ready")
            et.eq(r.status, 503)
            et.check(dt < timeout / 1000 + 0.2, f"/ready took {dt:.3f}s")
        p.start()
        dt, _ = poll(s, "/ready", 200, timeout=10)
        print(f"# 200 again {dt:.2f}s after the restart")
        et.eq(s.proc.poll(), None, "evapi exited")
        no_secret(s, p.password)
        recs = s.log_records()
        et.check(any(x.get("level") == "warn" and x.get("msg", "").endswith("database unavailable")
                     for x in recs) or any("lost" in x.get("msg", "") for x in recs),
                 "no warning logged for the outage")


@suite.test
def test_stop_fast():
    """pg_ctl stop -m fast mid-run: 503 within one check, 200 after restart"""
    fault_cycle(lambda p: p.stop("fast"))


@suite.test
def test_stop_immediate():
    """pg_ctl stop -m immediate mid-run: 503 within one check, 200 after restart"""
    fault_cycle(lambda p: p.stop("immediate"))


@suite.test
def test_postmaster_killed():
    """postmaster SIGKILLed mid-run: 503 within one check, 200 after restart"""
    fault_cycle(lambda p: p.kill_postmaster())


@suite.test
def test_backend_terminated():
    """our backend terminated by an admin: reconnects within the check, no 503"""
    p = pg()
    with server(p.url(), READY_CACHE_MS=0) as s:
        s.start()
        et.eq(s.get("/ready").status, 200)
        out = p.psql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                     "WHERE application_name = 'evapi'")
        et.eq(out.strip(), "1", "terminated backends")
        for _ in range(5):
            r = s.get("/ready")
            et.eq(r.status, 200, f"{r.body!r}")
            time.sleep(0.05)


@suite.test
def test_wrong_password():
    """wrong password: 503 "authentication failed", logged, password never printed; unknown database"""
    p = pg()
    wrong = "WrongPw" + p.password[:6]
    for url in (p.url(password=wrong), p.keyvalue(password=wrong)):
        with server(url) as s:
            s.start()
            r = s.get("/ready")
            et.eq(r.status, 503)
            et.eq(reason(r), "authentication failed")
            s.stop()
            recs = [x for x in s.log_records()
                    if x.get("level") == "warn" and "unavailable" in x.get("msg", "")]
            et.check(recs, "no warn log line for the failure")
            et.eq(recs[0].get("reason"), "authentication failed")
            no_secret(s, wrong, p.password)
    with server(p.url().rsplit("/", 1)[0] + "/no_such_db") as s:
        s.start()
        r = s.get("/ready")
        et.eq(r.status, 503)
        et.eq(reason(r), "database not found")


def hang_test(listener):
    timeout_ms = 300
    url = f"postgresql://evapi:HangPw1@127.0.0.1:{listener.port}/postgres"
    with server(url, READY_TIMEOUT_MS=timeout_ms, READY_CACHE_MS=0) as s:
        s.start()
        with HealthSampler(s.port) as hs:
            # Let the check started at boot time out first.
            time.sleep(timeout_ms / 1000 + 0.1)
            time.sleep(0.5)  # and the backoff elapse: a real attempt next
            dt, r = et.timed_get(s.port, "/ready")
            time.sleep(0.1)
        et.check(not isinstance(r, Exception), f"/ready failed: {r!r}")
        et.eq(r.status, 503)
        et.eq(reason(r), "timeout")
        limit = timeout_ms / 1000 + 0.15
        et.check(dt < limit, f"/ready took {dt:.3f}s (limit {limit:.3f}s)")
        et.check(dt > timeout_ms / 1000 * 0.8, f"/ready took {dt:.3f}s: no real attempt?")
        worst = hs.check()
        # Right after a failed attempt the check backs off and answers at once.
        dt2, r2 = et.timed_get(s.port, "/ready")
        et.eq(r2.status, 503)
        et.check(dt2 < 0.05, f"/ready while backing off took {dt2:.3f}s")
        print(f"# /ready 503 in {dt * 1000:.0f} ms, then {dt2 * 1000:.1f} ms; "
              f"/health worst {worst * 1000:.1f} ms over {len(hs.samples)} samples")
        no_secret(s, "HangPw1")


@suite.test
def test_mute_listener():
    """a listener that accepts but never answers: 503 timeout in time, /health < 50 ms throughout"""
    with blackhole.Mute() as m:
        hang_test(m)
        et.check(m.accepted >= 1, "evapi never connected to the mute listener")


@suite.test
def test_never_accepts():
    """an address that never accepts (SYNs dropped): 503 timeout in time, /health < 50 ms throughout"""
    with blackhole.SynQueue() as q:
        et.check(q.verify(0.3), "the SYN queue blackhole does not hang connects")
        hang_test(q)


# --- load and lifecycle ------------------------------------------------------------

def burst_test(workers):
    p = pg()
    cache_ms = 1000
    with server(p.url(), READY_CACHE_MS=cache_ms, WORKERS=workers) as s:
        s.start()
        et.eq(s.get("/ready").status, 200)
        time.sleep(cache_ms / 1000 + 0.1)  # the cache expired: a burst must check
        before = p.count_statements()
        t0 = time.monotonic()
        results = []
        while time.monotonic() - t0 < 2.5:
            results += et.parallel(200, lambda i: s.get("/ready", timeout=10).status)
        elapsed = time.monotonic() - t0
        time.sleep(0.3)  # the server writes its log asynchronously
        queries = p.count_statements() - before
        bad = [x for x in results if x != 200]
        et.check(not bad, f"{len(bad)} of {len(results)} /ready failed: {bad[:3]}")
        allowed = int(elapsed * 1000 // cache_ms) + 1
        print(f"# {len(results)} requests in {elapsed:.2f}s caused {queries} "
              f"queries (allowed {allowed})")
        et.check(1 <= queries <= allowed,
                 f"{queries} queries for {len(results)} requests in {elapsed:.2f}s")


@suite.test
def test_coalescing():
    """200 concurrent /ready: at most one query per cache period (server log)"""
    burst_test(1)


@suite.test
def test_coalescing_two_loops():
    """WORKERS=2: concurrent /ready from both loops share one check"""
    burst_test(2)


@suite.test
def test_drain():
    """SIGTERM: /ready 503 draining (and /health 200) during DRAIN_DELAY, then exit 0"""
    p = pg()
    with server(p.url(), DRAIN_DELAY=1) as s:
        s.start()
        et.eq(s.get("/ready").status, 200)
        t0 = time.monotonic()
        s.signal(signal.SIGTERM)
        time.sleep(0.05)
        r = s.get("/ready")
        et.eq(r.status, 503)
        et.eq(r.json(), {"status": "draining"})
        et.eq(s.get("/health").status, 200)
        et.check(time.monotonic() - t0 < 1.0, "the checks took longer than DRAIN_DELAY")
        et.eq(s.wait(timeout=10), 0, "exit status")
        no_secret(s, p.password)


@suite.test
def test_no_user_no_passwd_entry():
    """No user in DATABASE_URL and a uid without a passwd entry: user "evapi" is used"""
    if os.geteuid() != 0:
        et.skip("needs root to run evapi as a uid without a passwd entry")
    import pwd
    import shutil
    uid = 54321
    try:
        pwd.getpwuid(uid)
        et.skip(f"uid {uid} has a passwd entry here")
    except KeyError:
        pass
    # A copy the unprivileged uid can read, wherever the build tree is.
    d = tempfile.mkdtemp(prefix="evapi-nouser-")
    suite.cleanups.append(lambda: shutil.rmtree(d, ignore_errors=True))
    os.chmod(d, 0o755)
    binary = os.path.join(d, "evapi")
    shutil.copy(et.evapi_bin(), binary)
    os.chmod(binary, 0o755)
    env = {}
    if os.environ.get("EVAPI_STATIC") != "yes":
        plugins = os.path.join(d, "plugins")
        os.mkdir(plugins, 0o755)
        for f in ("health.so", "ready.so", "pg.so"):
            shutil.copy(os.path.join(os.environ["EVAPI_PLUGIN_DIR"], f), plugins)
            os.chmod(os.path.join(plugins, f), 0o644)
        env["API_PLUGIN_DIR"] = plugins
    p = pg()
    url = f"postgresql://:{p.password}@127.0.0.1:{p.port}/{p.DB}"
    s = server(url, **env)
    s.wrapper = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
    orig = et.evapi_bin
    et.evapi_bin = lambda: binary
    try:
        with s:
            s.start()
            r = s.get("/ready")
            et.eq(r.status, 200, f"{r.body!r} {s.stdout()[-800:]}")
    finally:
        et.evapi_bin = orig


if __name__ == "__main__":
    suite.run()
