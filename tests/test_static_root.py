#!/usr/bin/env python3
"""The static binary in an empty root, as uid 65534 (issue: static build).

The root holds only the binary, a CA bundle, /etc/hosts, /etc/resolv.conf
and passwd/group files. Inside it, evapi must serve /health and /version,
answer its own --healthcheck, reach the test PostgreSQL through a host name
defined only in the root's /etc/hosts, over TLS with sslmode=verify-full
against a CA these tests create, and drain and exit 0 on SIGTERM as PID 1.
"""

import os
import shutil
import signal
import subprocess
import tempfile
import time

import evapitest as et
from pgcluster import PgCluster, PgUnavailable

STATIC = os.environ.get("EVAPI_STATIC") == "yes"
suite = et.Suite("static-root", required=STATIC)
if not STATIC:
    suite.skip_all("needs the static build (./configure --enable-static-binary)")
if os.geteuid() != 0:
    suite.skip_all("chroot and unshare need root")
for tool in ("unshare", "chroot", "openssl"):
    if shutil.which(tool) is None:
        suite.skip_all(f"{tool} is not installed")

HOST = "pgdb.internal"
UID = 65534
WORK = tempfile.mkdtemp(prefix="evapi-root-", dir="/tmp")
os.chmod(WORK, 0o755)
suite.cleanups.append(lambda: shutil.rmtree(WORK, ignore_errors=True))


def openssl(*args):
    r = subprocess.run(["openssl", *args], capture_output=True, text=True,
                       timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"openssl {args[0]}: {r.stderr[-500:]}")


class CaSignedCluster(PgCluster):
    """A PostgreSQL whose certificate for pgdb.internal is signed by a CA
    made here: the CA certificate becomes the root's CA bundle."""

    def _make_cert(self):
        self.ca_key = os.path.join(self.dir, "ca.key")
        self.ca_cert = os.path.join(self.dir, "ca.crt")
        csr = os.path.join(self.dir, "server.csr")
        ext = os.path.join(self.dir, "san.ext")
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                "-keyout", self.ca_key, "-out", self.ca_cert,
                "-subj", "/CN=evapi test CA")
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", self.key,
                "-out", csr, "-subj", f"/CN={HOST}")
        with open(ext, "w") as f:
            f.write(f"subjectAltName=DNS:{HOST}\n")
        openssl("x509", "-req", "-in", csr, "-CA", self.ca_cert, "-CAkey",
                self.ca_key, "-CAcreateserial", "-out", self.cert, "-days", "2",
                "-extfile", ext)
        os.chmod(self.key, 0o600)
        os.chmod(self.cert, 0o644)
        if self.as_root:
            os.chown(self.key, self.uid, self.gid)
            os.chown(self.cert, self.uid, self.gid)


try:
    PG = CaSignedCluster(ssl=True)
except PgUnavailable as e:
    suite.skip_all(str(e))
suite.cleanups.append(PG.cleanup)


def make_root():
    root = os.path.join(WORK, "root")
    os.makedirs(os.path.join(root, "etc/ssl/certs"))
    shutil.copy(et.evapi_bin(), os.path.join(root, "evapi"))
    os.chmod(os.path.join(root, "evapi"), 0o755)
    shutil.copy(PG.ca_cert, os.path.join(root, "etc/ssl/certs/ca-certificates.crt"))
    files = {
        "etc/hosts": f"127.0.0.1 localhost\n127.0.0.1 {HOST}\n",
        "etc/resolv.conf": "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
        "etc/passwd": "root:x:0:0:root:/:/nonexistent\n"
                      f"nobody:x:{UID}:{UID}:nobody:/:/nonexistent\n",
        "etc/group": f"root:x:0:\nnogroup:x:{UID}:\n",
    }
    for path, text in files.items():
        with open(os.path.join(root, path), "w") as f:
            f.write(text)
    for dirpath, dirs, names in os.walk(root):
        for d in dirs:
            os.chmod(os.path.join(dirpath, d), 0o755)
    return root


ROOT = make_root()


def root_listing():
    out = []
    for dirpath, _, names in os.walk(ROOT):
        for n in names:
            out.append(os.path.relpath(os.path.join(dirpath, n), ROOT))
    return sorted(out)


def env(**over):
    e = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
         "PORT": str(et.free_port()), "BIND_ADDRESS": "127.0.0.1",
         "LOG_LEVEL": "info", "API_PLUGINS": "health,ready,version",
         # No sslrootcert: the system CA bundle is the default for
         # verify-full, which is what a scratch image ships.
         "DATABASE_URL": PG.url(host=HOST, extra="?sslmode=verify-full"),
         "READY_TIMEOUT_MS": "2000"}
    e.update({k: str(v) for k, v in over.items()})
    return e


def in_root(args, e):
    """chroot into the root as uid 65534, as PID 1 of a new PID namespace."""
    # --kill-child: if unshare dies, PID 1 of the namespace dies with it.
    cmd = ["unshare", "--pid", "--fork", "--kill-child", "--mount-proc", "chroot",
           f"--userspec={UID}:{UID}", ROOT, "/evapi", *args]
    return cmd


class RootServer:
    def __init__(self, **over):
        self.env = env(**over)
        self.port = int(self.env["PORT"])
        self.out = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(in_root([], self.env), env=self.env,
                                     stdout=self.out, stderr=subprocess.STDOUT)
        suite.cleanups.append(self.kill)
        self.pid = et.child_of(self.proc.pid)
        deadline = time.monotonic() + 10
        while True:
            try:
                et.http(self.port, "/health", timeout=0.5)
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"evapi in the root did not start: {self.log()}")
                time.sleep(0.05)

    def log(self):
        self.out.seek(0)
        return self.out.read().decode(errors="replace")

    def kill(self):
        if self.proc.poll() is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except OSError:
                pass
            self.proc.kill()
            self.proc.wait()


SRV = None


def server():
    global SRV
    if SRV is None:
        SRV = RootServer()
    return SRV


@suite.test
def static_binary():
    """The binary is fully static (ldd: not a dynamic executable)"""
    r = subprocess.run(["ldd", et.evapi_bin()], capture_output=True, text=True)
    et.check("not a dynamic executable" in (r.stdout + r.stderr), r.stdout + r.stderr)
    et.eq(root_listing(), ["etc/group", "etc/hosts", "etc/passwd",
                           "etc/resolv.conf", "etc/ssl/certs/ca-certificates.crt",
                           "evapi"], "the root holds nothing else")


@suite.test
def runs_as_nobody_pid1():
    """In the root it runs as uid 65534 and is PID 1 of its namespace"""
    s = server()
    with open(f"/proc/{s.pid}/status") as f:
        status = f.read()
    uid = [l for l in status.splitlines() if l.startswith("Uid:")][0].split()[1]
    nspid = [l for l in status.splitlines() if l.startswith("NSpid:")][0].split()[-1]
    et.eq(uid, str(UID))
    et.eq(nspid, "1")


@suite.test
def health_and_version():
    """/health and /version answer from the empty root"""
    s = server()
    et.eq(et.http(s.port, "/health").status, 200)
    v = et.http(s.port, "/version").json()
    et.eq(v["build"], "static")
    et.eq(v["plugins"], ["health", "pg", "ready", "version"])


@suite.test
def healthcheck_inside_root():
    """evapi --healthcheck works inside the empty root"""
    s = server()
    e = dict(s.env)
    r = subprocess.run(["chroot", f"--userspec={UID}:{UID}", ROOT, "/evapi",
                        "--healthcheck"], env=e, capture_output=True, text=True,
                       timeout=10)
    et.eq(r.returncode, 0, r.stderr)
    e["PORT"] = str(et.free_port())
    r = subprocess.run(["chroot", f"--userspec={UID}:{UID}", ROOT, "/evapi",
                        "--healthcheck"], env=e, capture_output=True, text=True,
                       timeout=10)
    et.eq(r.returncode, 1, "a dead port is unhealthy")


@suite.test
def ready_over_tls_by_hosts_name():
    """/ready reaches PostgreSQL via pgdb.internal (root's /etc/hosts) with verify-full"""
    s = server()
    deadline = time.monotonic() + 10
    while True:
        r = et.http(s.port, "/ready")
        if r.status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    et.eq(r.status, 200, f"{r.body!r} log: {s.log()[-1500:]}")
    et.check(PG.password not in s.log(), "no password in the log")
    # The server saw a TLS connection from the ready check.
    rows = PG.psql("select count(*) from pg_stat_ssl s join pg_stat_activity a "
                   "using (pid) where s.ssl and a.application_name = 'evapi'")
    et.check(rows.strip() not in ("", "0"), f"no TLS session from evapi: {rows!r}")


@suite.test
def verify_full_rejects_wrong_ca():
    """verify-full against a CA that did not sign the server: 503, not 200"""
    other = RootServer(DATABASE_URL=PG.url(host="localhost", extra="?sslmode=verify-full&"
                       "sslrootcert=/etc/ssl/certs/ca-certificates.crt"))
    r = et.http(other.port, "/ready")
    time.sleep(0.5)
    r = et.http(other.port, "/ready")
    et.eq(r.status, 503, "the certificate is for pgdb.internal, not localhost")
    other.kill()


@suite.test
def sigterm_as_pid1():
    """SIGTERM to PID 1 in the root drains and exits 0"""
    s = server()
    os.kill(s.pid, signal.SIGTERM)
    et.eq(s.proc.wait(10), 0, s.log()[-1000:])
    et.check('"msg":"stopped"' in s.log(), s.log()[-500:])


suite.run()
