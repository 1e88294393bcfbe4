#!/usr/bin/env python3
"""The static binary cross-compiled for another architecture (issue 18).

scripts/run-tests' "arm64" suite builds evapi for aarch64 on this x86_64
machine (./configure --host=aarch64-linux-musl) and runs this file, and
test_static_root.py, against it with EVAPI_CROSS_ARCH=aarch64. The binary
must be a static ELF of that architecture, and run through qemu-user
(binfmt_misc): serve /health and /version, answer its --healthcheck and
reach PostgreSQL over TLS with sslmode=verify-full for /ready.

Without EVAPI_CROSS_ARCH (the native builds' `make check`) it skips.
"""

import os
import struct
import subprocess
import time

import evapitest as et
from pgcluster import PgCluster, PgUnavailable

ARCH = os.environ.get("EVAPI_CROSS_ARCH", "")
suite = et.Suite("cross", required=bool(ARCH))
if not ARCH:
    suite.skip_all("run by scripts/run-tests' arm64 suite (EVAPI_CROSS_ARCH unset)")

# ELF e_machine of each architecture the static build supports.
MACHINES = {"aarch64": 183, "x86_64": 62}
if ARCH not in MACHINES:
    suite.skip_all(f"unknown EVAPI_CROSS_ARCH {ARCH!r}")
BINFMT = f"/proc/sys/fs/binfmt_misc/qemu-{ARCH}"
if not os.path.exists(BINFMT):
    suite.skip_all(f"no binfmt_misc entry {BINFMT} (apt-get install qemu-user-static)")

PT_INTERP, PT_DYNAMIC = 3, 2
ET_EXEC = 2


def elf_header():
    """(class, data, type, machine, program header types) of EVAPI_BIN."""
    with open(et.evapi_bin(), "rb") as f:
        data = f.read()
    et.eq(data[:4], b"\x7fELF", "ELF magic")
    ei_class, ei_data = data[4], data[5]
    e_type, e_machine = struct.unpack_from("<HH", data, 16)
    e_phoff, = struct.unpack_from("<Q", data, 32)
    e_phentsize, e_phnum = struct.unpack_from("<HH", data, 54)
    types = [struct.unpack_from("<I", data, e_phoff + i * e_phentsize)[0]
             for i in range(e_phnum)]
    return ei_class, ei_data, e_type, e_machine, types


@suite.test
def static_elf_of_the_target():
    """the binary is a 64-bit little-endian static ELF executable of the target"""
    ei_class, ei_data, e_type, e_machine, types = elf_header()
    et.eq((ei_class, ei_data), (2, 1), "ELFCLASS64, little endian")
    et.eq(e_machine, MACHINES[ARCH], f"e_machine of {ARCH}")
    et.eq(e_type, ET_EXEC, "ET_EXEC (static, not PIE)")
    et.check(PT_INTERP not in types, "no program interpreter (PT_INTERP)")
    et.check(PT_DYNAMIC not in types, "no dynamic section (PT_DYNAMIC)")


@suite.test
def binfmt_runs_it_through_qemu():
    """binfmt_misc hands the target's ELF files to qemu-user (flag F: also in a chroot)"""
    with open(BINFMT) as f:
        entry = f.read()
    et.check(entry.startswith("enabled"), entry)
    flags = [l.split(":", 1)[1].strip() for l in entry.splitlines() if l.startswith("flags:")]
    et.check(flags and "F" in flags[0], f"flag F (interpreter opened at registration): {entry}")


SRV = None


def server(**env):
    global SRV
    if SRV is None:
        SRV = et.Server(suite, **env).start(timeout=20)
    return SRV


@suite.test
def serves_health_and_version_emulated():
    """under qemu-user it serves /health and /version (build static)"""
    s = server()
    exe = os.path.realpath(f"/proc/{s.proc.pid}/exe")
    et.check("qemu" in os.path.basename(exe), f"the process runs in qemu-user, exe={exe}")
    r = s.get("/health")
    et.eq((r.status, r.json()), (200, {"status": "ok"}))
    v = s.get("/version").json()
    et.eq(v["build"], "static")
    et.check(v["version"] and v["commit"], f"version and commit are set: {v}")


@suite.test
def healthcheck_exit_codes():
    """--healthcheck exits 0 against the running server, 1 against a dead port"""
    s = server()
    r = et.run_evapi(["--healthcheck"], et.base_env(PORT=s.port), timeout=20)
    et.eq(r.returncode, 0, r.stderr)
    r = et.run_evapi(["--healthcheck"], et.base_env(PORT=et.free_port()), timeout=20)
    et.eq(r.returncode, 1, "a dead port is unhealthy")


@suite.test
def ready_over_verify_full_tls():
    """/ready reaches PostgreSQL over TLS with sslmode=verify-full (emulated OpenSSL)"""
    try:
        pg = PgCluster(ssl=True)
    except PgUnavailable as e:
        et.skip(str(e))
    suite.cleanups.append(pg.cleanup)
    # The cluster's certificate is self-signed for "localhost": it is its own CA.
    url = pg.url(host="localhost", extra=f"?sslmode=verify-full&sslrootcert={pg.cert}")
    s = et.Server(suite, API_PLUGINS="health,ready,version", DATABASE_URL=url,
                  READY_TIMEOUT_MS=5000).start(timeout=20)
    deadline = time.monotonic() + 20
    while True:
        r = s.get("/ready", timeout=10)
        if r.status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    et.eq(r.status, 200, f"{r.body!r} log: {s.stdout()[-1500:]}")
    rows = pg.psql("select count(*) from pg_stat_ssl s join pg_stat_activity a "
                   "using (pid) where s.ssl and a.application_name = 'evapi'")
    et.check(rows.strip() not in ("", "0"), f"no TLS session from evapi: {rows!r}")
    et.check(pg.password not in s.stdout() + s.stderr(), "no password in the log")
    # A CA that did not sign the server's certificate: verify-full refuses.
    bad = et.Server(suite, API_PLUGINS="health,ready,version", READY_TIMEOUT_MS=5000,
                    DATABASE_URL=pg.url(host="localhost", extra="?sslmode=verify-full&"
                                        f"sslrootcert={et.evapi_bin()}")).start(timeout=20)
    et.eq(bad.get("/ready", timeout=10).status, 503, "a wrong root certificate fails")


@suite.test
def sigterm_exits_zero():
    """SIGTERM drains and exits 0 under emulation too"""
    s = server()
    et.eq(s.stop(timeout=20), 0, s.stdout()[-1000:])


suite.run()
