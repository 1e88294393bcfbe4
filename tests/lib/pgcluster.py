"""A throwaway PostgreSQL cluster for tests (python3 standard library).

    with PgCluster() as pg:          # initdb + start, cleaned up always
        pg.url()                     # postgresql://evapi:...@127.0.0.1:PORT/postgres
        pg.stop("immediate"); pg.start(); pg.kill_postmaster()
        pg.count_statements("SELECT 1", app="evapi")

The cluster lives in a fresh temporary directory: initdb with
scram-sha-256 and a random password, listening on 127.0.0.1 at a free port
and on a unix socket inside the directory, every statement logged (with
the client's application_name) so tests can count queries on the server
side. Debian's initdb refuses to run as root, so as root every server
command runs as the `postgres` system user (runuser), which then owns the
directory.
"""

import glob
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time


class PgUnavailable(Exception):
    """PostgreSQL's server binaries (or the postgres user) are missing."""


def find_bindir():
    """The newest Debian-style PostgreSQL server bindir, or PG_BINDIR."""
    env = os.environ.get("PG_BINDIR")
    if env:
        cands = [env]
    else:
        cands = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                       key=lambda p: int(re.sub(r"\D", "", p.split("/")[-2]) or 0))
        cands.reverse()
        # Non-Debian layouts: whatever pg_ctl on PATH belongs to.
        pg_ctl = shutil.which("pg_ctl")
        if pg_ctl:
            cands.append(os.path.dirname(os.path.realpath(pg_ctl)))
    for d in cands:
        if all(os.access(os.path.join(d, b), os.X_OK)
               for b in ("initdb", "pg_ctl", "postgres")):
            return d
    raise PgUnavailable("no PostgreSQL server binaries (initdb, pg_ctl, "
                        "postgres); install postgresql or set PG_BINDIR")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive(pid):
    """True while PID runs (a zombie waiting for its reaper is dead)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


class PgCluster:
    USER = "evapi"
    DB = "postgres"

    def __init__(self, port=None, start=True, ssl=False):
        self.bindir = find_bindir()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            try:
                import pwd
                pw = pwd.getpwnam("postgres")
            except KeyError:
                raise PgUnavailable("running as root needs the postgres "
                                    "system user (Debian's initdb refuses root)")
            self.uid, self.gid = pw.pw_uid, pw.pw_gid
            if not shutil.which("runuser"):
                raise PgUnavailable("running as root needs runuser (util-linux)")
        self.password = secrets.token_hex(16)
        self.port = port or _free_port()
        # /tmp, not TMPDIR: the postgres user must be able to reach it.
        self.dir = tempfile.mkdtemp(prefix="evapi-pg-", dir="/tmp")
        self.data = os.path.join(self.dir, "data")
        self.sockdir = os.path.join(self.dir, "sock")
        self.logfile = os.path.join(self.dir, "postgres.log")
        # TLS with a self-signed certificate for CN/SAN "localhost" (also
        # the root a verify-full client trusts); needs the openssl tool.
        self.ssl = bool(ssl and shutil.which("openssl"))
        self.cert = os.path.join(self.dir, "server.crt")
        self.key = os.path.join(self.dir, "server.key")
        os.mkdir(self.sockdir)
        if self.as_root:
            for p in (self.dir, self.sockdir):
                os.chown(p, self.uid, self.gid)
        try:
            if self.ssl:
                self._make_cert()
            self._initdb()
            if start:
                self.start()
        except BaseException:
            self.cleanup()
            raise

    # --- commands -------------------------------------------------------

    def _cmd(self, argv):
        prog = os.path.join(self.bindir, argv[0])
        cmd = [prog] + list(argv[1:])
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--"] + cmd
        return cmd

    def _run(self, argv, timeout=60, check=True):
        r = subprocess.run(self._cmd(argv), capture_output=True, text=True,
                           timeout=timeout, cwd=self.dir,
                           env=self._env())
        if check and r.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed ({r.returncode}): "
                               f"{r.stdout[-1000:]} {r.stderr[-1000:]}")
        return r

    def _env(self):
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
               "LC_ALL": "C", "LANG": "C"}
        return env

    def _initdb(self):
        pwfile = os.path.join(self.dir, "pwfile")
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.password + "\n")
        if self.as_root:
            os.chown(pwfile, self.uid, self.gid)
        try:
            self._run(["initdb", "-D", self.data, "-U", self.USER,
                       "--auth=scram-sha-256", f"--pwfile={pwfile}",
                       "-E", "UTF8", "--locale=C", "--no-sync"])
        finally:
            os.unlink(pwfile)
        conf = os.path.join(self.data, "postgresql.conf")
        # Appended settings win over initdb's. fsync off: a test cluster.
        extra = f"""
listen_addresses = '127.0.0.1'
port = {self.port}
unix_socket_directories = '{self.sockdir}'
max_connections = 30
shared_buffers = 16MB
fsync = off
synchronous_commit = off
full_page_writes = off
logging_collector = off
log_statement = 'all'
log_connections = on
log_disconnections = on
log_line_prefix = '%m [%p] app=%a '
lc_messages = 'C'
"""
        if self.ssl:
            extra += (f"ssl = on\nssl_cert_file = '{self.cert}'\n"
                      f"ssl_key_file = '{self.key}'\n")
        with open(conf, "a") as f:
            f.write(extra)

    def _make_cert(self):
        r = subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
             "-keyout", self.key, "-out", self.cert, "-days", "2",
             "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"],
            capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"openssl failed: {r.stderr[-500:]}")
        os.chmod(self.key, 0o600)
        os.chmod(self.cert, 0o644)
        if self.as_root:
            os.chown(self.key, self.uid, self.gid)
            os.chown(self.cert, self.uid, self.gid)

    def start(self, timeout=30):
        """pg_ctl start; retried while orphaned backends of a killed
        postmaster still hold the shared memory."""
        deadline = time.monotonic() + timeout
        while True:
            r = self._run(["pg_ctl", "-D", self.data, "-l", self.logfile,
                           "-w", "-t", "20", "start"], check=False,
                          timeout=timeout + 10)
            if r.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"pg_ctl start failed: {r.stdout[-800:]} "
                                   f"{r.stderr[-800:]} {self.log()[-1500:]}")
            time.sleep(0.3)

    def stop(self, mode="fast"):
        self._run(["pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", "30",
                   "stop"], check=False)

    def postmaster_pid(self):
        try:
            with open(os.path.join(self.data, "postmaster.pid")) as f:
                return int(f.readline())
        except (OSError, ValueError):
            return None

    def kill_postmaster(self, wait=10.0):
        """SIGKILL the postmaster, as an OOM killer would; wait until it is
        gone and nothing listens on the port any more."""
        pid = self.postmaster_pid()
        if pid is None:
            raise RuntimeError("postmaster is not running")
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.02)
        return pid

    def is_running(self):
        r = self._run(["pg_ctl", "-D", self.data, "status"], check=False)
        return r.returncode == 0

    # --- connection strings --------------------------------------------

    def url(self, password=None, host="127.0.0.1", port=None, extra=""):
        pw = self.password if password is None else password
        return (f"postgresql://{self.USER}:{pw}@{host}:{port or self.port}/"
                f"{self.DB}{extra}")

    def keyvalue(self, password=None, host="127.0.0.1", port=None):
        pw = self.password if password is None else password
        return (f"host={host} port={port or self.port} user={self.USER} "
                f"password='{pw}' dbname={self.DB}")

    # --- server-side observations --------------------------------------

    def log(self):
        try:
            with open(self.logfile, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def count_statements(self, statement="SELECT 1", app="evapi"):
        """Statements STATEMENT run by clients named APP, from the log:
        simple queries ("statement: SQL") and executions of prepared ones
        ("execute NAME: SQL")."""
        tag = f"app={app} "
        n = 0
        for line in self.log().splitlines():
            line = line.rstrip()
            if tag not in line or not line.endswith(f": {statement}"):
                continue
            if "statement: " in line or "execute " in line:
                n += 1
        return n

    def psql(self, sql):
        """Run SQL over the unix socket; returns stdout."""
        env = self._env()
        env["PGPASSWORD"] = self.password
        cmd = [os.path.join(self.bindir, "psql"), "-X", "-At", "-h",
               self.sockdir, "-p", str(self.port), "-U", self.USER,
               "-d", self.DB, "-c", sql]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30,
                           env=env)
        if r.returncode != 0:
            raise RuntimeError(f"psql failed: {r.stderr}")
        return r.stdout

    # --- cleanup -----------------------------------------------------------

    def cleanup(self):
        pid = self.postmaster_pid()
        if pid is not None:
            try:
                self.stop("immediate")
            except Exception:  # noqa: BLE001 - best effort, then SIGKILL
                pass
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()


def for_suite(suite, skip, **kw):
    """A new cluster (PgCluster(**KW)) that SUITE removes at its end; when
    PostgreSQL is missing, SKIP(reason) (the evapitest skip of the case, or
    suite.skip_all)."""
    try:
        pg = PgCluster(**kw)
    except PgUnavailable as e:
        skip(str(e))
    suite.cleanups.append(pg.cleanup)
    return pg


def shared(suite, skip, first_use=None, **kw):
    """A function returning one cluster for the whole suite: made on its
    first call (then FIRST_USE(cluster) runs, a migration say), started
    again when a case stopped it."""
    box = []

    def get():
        if not box:
            box.append(for_suite(suite, skip, **kw))
            if first_use is not None:
                first_use(box[0])
        if not box[0].is_running():
            box[0].start()
        return box[0]
    return get
