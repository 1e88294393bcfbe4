#!/usr/bin/env python3
"""The commands of README.md and docs/*.md, run as a user would paste them.

Every fenced block of shell (```sh, ```shell, ```bash, ```console) in those
files carries a marker, an HTML comment on the line right before it, which
GitHub and man readers do not show:

  <!-- doc-test: run -->             run the block
  <!-- doc-test: run server -->      run it while an evapi (health, ready,
                                     version, items, migrated, with a
                                     private PostgreSQL)
                                     serves on the port the docs call 8080
  <!-- doc-test: background -->      start the block (a server in the
                                     foreground) and keep it running until
                                     the end of the page; the next block
                                     runs once it listens
  <!-- doc-test: file NAME -->       write the block (any language) to NAME
  <!-- doc-test: skip REASON -->     not run here; reported as SKIP REASON

`run` and `background` also take `expect="TEXT"` (the output must contain
TEXT; \\" for a quote) and `dynamic` (needs the dynamic build: SKIP in the
static one, which loads no plugin file). A shell block without a marker, or
a marker before nothing it can apply to, fails the test: a new command in
the docs is either run here or says why not.

Each page runs in its own empty directory, blocks in order, with bash
(-e -u -o pipefail): the directory a block ends in and the variables it
exports carry over to the next block, as in one terminal. The commands
find what the docs assume installed: `make install` of this build into a
temporary root, its bin and sbin first on PATH, pkg-config pointed at it
(PKG_CONFIG_PATH, PKG_CONFIG_SYSROOT_DIR), API_PLUGIN_DIR at its plugin
directory, and a `sudo` that runs its arguments. PORT is a free port, and
`:8080` in a block is rewritten to it. Each block is one TAP case; a SKIP
is never counted as passed.
"""

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import evapitest as et  # noqa: E402
import pgcluster  # noqa: E402

TOP = os.environ.get("top_srcdir", os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
STATIC = os.environ.get("EVAPI_STATIC") == "yes"
SHELL_LANGS = {"sh", "shell", "bash", "console"}
MARKER = re.compile(r"^<!--\s*doc-test:\s*(run|background|file|skip)\b(.*?)\s*-->\s*$")
FENCE = re.compile(r"^(```+)\s*([\w+-]*)\s*$")


class Block:
    def __init__(self, page, line, lang, text, kind, args):
        self.page, self.line, self.lang, self.text = page, line, lang, text
        self.kind, self.args = kind, args

    @property
    def where(self):
        return f"{self.page}:{self.line}"

    def attr(self, name):
        """expect="..." (quotes escaped with a backslash), or None."""
        m = re.search(name + r'="((?:[^"\\]|\\.)*)"', self.args)
        return re.sub(r'\\(.)', r'\1', m.group(1)) if m else None

    def flag(self, name):
        stripped = re.sub(r'\w+="(?:[^"\\]|\\.)*"', "", self.args)
        return name in stripped.split()


def parse(page):
    """The marked and the unmarked blocks of PAGE; errors as strings."""
    blocks, errors = [], []
    with open(os.path.join(TOP, page), encoding="utf-8") as f:
        lines = f.read().split("\n")
    i = 0
    pending = None  # (line number, kind, args) of a marker
    while i < len(lines):
        m = MARKER.match(lines[i])
        if m:
            if pending:
                errors.append(f"{page}:{pending[0]}: a marker before no block")
            pending = (i + 1, m.group(1), m.group(2).strip())
            i += 1
            continue
        f = FENCE.match(lines[i])
        if not f:
            if pending and lines[i].strip():
                errors.append(f"{page}:{pending[0]}: a marker before no block")
                pending = None
            i += 1
            continue
        start, fence, lang = i + 1, f.group(1), f.group(2).lower()
        j = i + 1
        while j < len(lines) and lines[j].strip() != fence:
            j += 1
        text = "\n".join(lines[i + 1:j]) + "\n"
        if pending:
            kind, args = pending[1], pending[2]
            if kind != "file" and lang not in SHELL_LANGS:
                errors.append(f"{page}:{start}: `{kind}` before a ```{lang} block")
            blocks.append(Block(page, start, lang, text, kind, args))
        elif lang in SHELL_LANGS:
            errors.append(f"{page}:{start}: a ```{lang} block without a "
                          "<!-- doc-test: ... --> marker")
        pending = None
        i = j + 1
    return blocks, errors


def pages():
    docs = sorted(os.path.join("docs", f) for f in os.listdir(os.path.join(TOP, "docs"))
                  if f.endswith(".md"))
    return ["README.md"] + docs


# ---- what the docs assume installed ---------------------------------------------

class Install:
    """make install of this build into a temporary root, as the docs' user
    has it under /usr/local."""

    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="evapi-doc-root-")
        top = os.environ["top_builddir"]
        r = subprocess.run([os.environ.get("MAKE", "make"), "-C", top, "install",
                            f"DESTDIR={self.root}"], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("make install: " + r.stderr[-2000:])
        found = {}
        for d, _, files in os.walk(self.root):
            for f in files:
                found.setdefault(f, os.path.join(d, f))
        self.evapi = found["evapi"]
        self.pcdir = os.path.dirname(found["evapi.pc"])
        self.plugindir = (os.path.dirname(found["health.so"])
                          if "health.so" in found else None)
        self.shims = os.path.join(self.root, "doc-test-bin")
        os.makedirs(self.shims)
        with open(os.path.join(self.shims, "sudo"), "w") as f:
            f.write('#!/bin/sh\n# the docs\' sudo: the test needs no root\nexec "$@"\n')
        os.chmod(os.path.join(self.shims, "sudo"), 0o755)

    def env(self, home, port):
        path = os.pathsep.join([os.path.dirname(self.evapi), self.shims,
                                os.environ.get("PATH", "/usr/bin:/bin")])
        env = {"PATH": path, "HOME": home, "PORT": str(port), "LANG": "C.UTF-8",
               "PKG_CONFIG_PATH": self.pcdir, "PKG_CONFIG_SYSROOT_DIR": self.root,
               "BIND_ADDRESS": "127.0.0.1", "TERM": "dumb"}
        if self.plugindir:
            env["API_PLUGIN_DIR"] = self.plugindir
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "CC", "MAKE"):
            if k in os.environ:
                env[k] = os.environ[k]
        return env

    def cleanup(self):
        shutil.rmtree(self.root, ignore_errors=True)


def listening(port):
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait_listening(port, proc, secs=15):
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        if listening(port):
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.05)
    return False


def stop(proc):
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


class Page:
    """One page's terminal: a directory, exported variables, servers."""

    def __init__(self, install, pg):
        self.install, self.pg = install, pg  # pg: a LazyPg
        self.dir = tempfile.mkdtemp(prefix="evapi-doc-page-")
        self.home = os.path.join(self.dir, "home")
        self.cwd = os.path.join(self.dir, "work")
        os.makedirs(self.home)
        os.makedirs(self.cwd)
        self.state = os.path.join(self.dir, "state")
        os.makedirs(self.state)
        self.envfile = os.path.join(self.state, "env")
        open(self.envfile, "w").close()
        self.port = et.free_port()
        self.env = install.env(self.home, self.port)
        self.procs = []
        self.server = None

    def script(self, text):
        text = text.replace(":8080", f":{self.port}")
        q = shlex.quote
        return (f"cd {q(self.cwd)}\nsource {q(self.envfile)}\n{text}\n"
                f"pwd > {q(self.state)}/cwd\nexport -p > {q(self.envfile)}\n")

    def after(self):
        with open(os.path.join(self.state, "cwd")) as f:
            self.cwd = f.read().strip()

    def run(self, block):
        r = subprocess.run(["bash", "-euo", "pipefail", "-c", self.script(block.text)],
                           env=self.env, cwd=self.cwd, capture_output=True,
                           text=True, timeout=180)
        out = r.stdout + r.stderr
        if r.returncode != 0:
            raise AssertionError(f"exit {r.returncode}:\n{out}")
        self.after()
        want = block.attr("expect")
        if want is not None and want not in out:
            raise AssertionError(f"{want!r} not in the output:\n{out}")

    def background(self, block):
        if listening(self.port):
            raise AssertionError(f"port {self.port} is taken before the block")
        log = open(os.path.join(self.state, f"bg-{block.line}.log"), "w+")
        p = subprocess.Popen(["bash", "-euo", "pipefail", "-c", self.script(block.text)],
                             env=self.env, cwd=self.cwd, stdout=log, stderr=log,
                             start_new_session=True)
        self.procs.append(p)
        if not wait_listening(self.port, p):
            stop(p)
            log.seek(0)
            raise AssertionError(f"nothing listens on the port:\n{log.read()}")
        want = block.attr("expect")
        if want is not None:
            time.sleep(0.2)
            log.seek(0)
            if want not in log.read():
                raise AssertionError(f"{want!r} not in the server's output")

    def file(self, block):
        name = block.args.split()[0] if block.args else ""
        if not name or "/" in name:
            raise AssertionError(f"`file` needs a plain file name, not {name!r}")
        with open(os.path.join(self.cwd, name), "w") as f:
            f.write(block.text)

    def ensure_server(self):
        """evapi as the README's quick start leaves it: every shipped
        plugin, a private PostgreSQL."""
        if self.server is not None:
            return
        env = dict(self.env, API_PLUGINS="health,ready,version,items",
                   DATABASE_URL=self.pg.url(), LOG_LEVEL="warn")
        # As scripts/run-server does: the migrations first.
        r = subprocess.run([self.install.evapi, "--migrate"], env=env,
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise AssertionError(f"evapi --migrate: {r.stdout} {r.stderr}")
        p = subprocess.Popen([self.install.evapi], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
        self.procs.append(p)
        if not wait_listening(self.port, p):
            raise AssertionError("the doc server did not start")
        self.server = p

    def close(self):
        for p in reversed(self.procs):
            stop(p)
        shutil.rmtree(self.dir, ignore_errors=True)


class LazyPg:
    """A private PostgreSQL, started for the first `server` block."""

    def __init__(self):
        self.cluster, self.why = None, None

    def url(self):
        if self.cluster is None and self.why is None:
            try:
                self.cluster = pgcluster.PgCluster()
            except pgcluster.PgUnavailable as e:
                self.why = str(e)
        if self.cluster is None:
            raise et.SkipTest(f"no PostgreSQL here: {self.why}")
        return self.cluster.url()

    def cleanup(self):
        if self.cluster is not None:
            self.cluster.cleanup()


def run_block(page, block):
    """None when it passed, else raises (SkipTest for a SKIP)."""
    if block.kind == "skip":
        raise et.SkipTest(block.args or "no reason given")
    if block.flag("dynamic") and STATIC:
        raise et.SkipTest("the static build loads no plugin file")
    if block.kind == "file":
        page.file(block)
    elif block.kind == "background":
        page.background(block)
    else:
        if block.flag("server"):
            page.ensure_server()
        page.run(block)


def main():
    all_blocks, errors = [], []
    for p in pages():
        b, e = parse(p)
        all_blocks += b
        errors += e
    n = len(all_blocks) + 1
    print(f"1..{n}")
    failed = 0
    # Case 1: every command block is marked, every marker is used.
    if errors:
        print("not ok 1 - every shell block of README.md and docs/ is marked")
        for e in errors:
            print(f"# {e}")
        failed += 1
    else:
        print(f"ok 1 - every shell block of README.md and docs/ is marked "
              f"({len(all_blocks)} blocks)")
    install = Install()
    pg = LazyPg()
    num, page, current, broken = 1, None, None, False
    try:
        for b in all_blocks:
            num += 1
            if b.page != current:
                if page:
                    page.close()
                page, current, broken = Page(install, pg), b.page, False
            desc = f"{b.where} {b.kind} {b.args}".strip()
            if broken and b.kind != "skip":
                print(f"not ok {num} - {desc} # an earlier block of the page failed")
                failed += 1
                continue
            try:
                run_block(page, b)
            except et.SkipTest as e:
                required = b.kind != "skip" and et.CI and not (STATIC and b.flag("dynamic"))
                if required:
                    print(f"not ok {num} - {desc} # required in CI, skipped: {e}")
                    failed += 1
                else:
                    print(f"ok {num} - {b.where} # SKIP {e}")
                continue
            except Exception as e:  # noqa: BLE001
                print(f"not ok {num} - {desc}")
                for line in str(e).splitlines()[-40:]:
                    print(f"# {line}")
                failed += 1
                broken = True
                continue
            print(f"ok {num} - {desc}")
            sys.stdout.flush()
    finally:
        if page:
            page.close()
        pg.cleanup()
        install.cleanup()
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
