#!/usr/bin/env python3
"""deploy/systemd: the units pass `systemd-analyze verify`, the service's
exposure under `systemd-analyze security --offline=true` is at most 2.0,
the policy points hold, and `make install` puts them in place.

Both checks are shown to fail on a broken unit, so a pass means something.
"""

import os
import re
import shutil
import subprocess
import tempfile

from evapitest import Suite, check, eq, evapi_bin, skip

suite = Suite("units")
SRC = os.environ.get("top_srcdir", ".")
BUILD = os.environ.get("top_builddir", ".")
SERVICE = os.path.join(BUILD, "deploy", "systemd", "evapi.service")
SOCKET = os.path.join(SRC, "deploy", "systemd", "evapi.socket")
ENVFILE = os.path.join(SRC, "deploy", "systemd", "evapi.env")
MAX_EXPOSURE = 2.0

if shutil.which("systemd-analyze") is None:
    suite.skip_all("systemd-analyze missing (Debian package systemd)")
TMP = tempfile.mkdtemp(prefix="evapi-units-")
suite.cleanups.append(lambda: shutil.rmtree(TMP, ignore_errors=True))


def read(path):
    with open(path) as f:
        return f.read()


def settings(text):
    """KEY -> [values] of a unit file (comments and sections left out)."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;[":
            continue
        k, _, v = line.partition("=")
        out.setdefault(k.strip(), []).append(v.strip())
    return out


def env_settings():
    out = {}
    for line in read(ENVFILE).splitlines():
        if line and not line.startswith("#"):
            k, _, v = line.partition("=")
            out[k] = v
    return out


def runnable_copy(service_text, name="evapi.service"):
    """The unit in TMP with ExecStart naming the binary under test (verify
    checks that the command exists; the installed path may not yet)."""
    d = tempfile.mkdtemp(dir=TMP)
    text = re.sub(r"(?m)^ExecStart=\S+", f"ExecStart={os.path.abspath(evapi_bin())}",
                  service_text)
    with open(os.path.join(d, name), "w") as f:
        f.write(text)
    shutil.copy(SOCKET, os.path.join(d, "evapi.socket"))
    return os.path.join(d, name), os.path.join(d, "evapi.socket")


def verify(*units):
    # --man=no: the man page is installed with evapi, not on this host.
    return subprocess.run(["systemd-analyze", "verify", "--man=no", *units],
                          capture_output=True, text=True, timeout=60)


def exposure(unit):
    r = subprocess.run(["systemd-analyze", "security", "--offline=true",
                        "--no-pager", unit], capture_output=True, text=True,
                       timeout=60)
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout)
    check(m, f"no exposure level in: {r.stdout[-500:]} {r.stderr}")
    return float(m.group(1))


@suite.test
def verify_clean():
    """systemd-analyze verify: the service and the socket, no finding"""
    svc, sock = runnable_copy(read(SERVICE))
    r = verify(svc, sock)
    eq((r.returncode, r.stdout + r.stderr), (0, ""), "verify")


@suite.test
def verify_catches_a_broken_unit():
    """... and it does fail on a unit with an unknown Type="""
    svc, sock = runnable_copy(read(SERVICE).replace("Type=notify",
                                                    "Type=notfy"))
    r = verify(svc, sock)
    check(r.returncode != 0 or "notfy" in r.stderr, r.stderr)


@suite.test
def exposure_at_most_2():
    """systemd-analyze security --offline=true: exposure <= 2.0"""
    svc, _ = runnable_copy(read(SERVICE))
    e = exposure(svc)
    print(f"# exposure level of evapi.service: {e}")
    check(e <= MAX_EXPOSURE, f"exposure {e} > {MAX_EXPOSURE}")


@suite.test
def exposure_check_can_fail():
    """... and a unit without its sandboxing scores above 2.0"""
    text = read(SERVICE)
    stripped = "\n".join(l for l in text.splitlines()
                         if not re.match(r"(Protect|Private|Restrict|System"
                                         r"Call|Capability|DynamicUser)", l))
    svc, _ = runnable_copy(stripped)
    e = exposure(svc)
    check(e > MAX_EXPOSURE, f"stripped unit scored {e}")


@suite.test
def service_policy():
    """Type=notify, watchdog, socket, settings file, stop timeout above the drain"""
    s = settings(read(SERVICE))
    eq(s["Type"], ["notify"])
    eq(s["NotifyAccess"], ["main"])
    eq(s["DynamicUser"], ["yes"])
    check(s["ExecStart"][0].endswith("/sbin/evapi")
          and s["ExecStart"][0].startswith("/"), s["ExecStart"])
    check(s["EnvironmentFile"][0].endswith("/evapi/evapi.env"),
          s["EnvironmentFile"])
    eq(s["Requires"], ["evapi.socket"])
    check("evapi.socket" in s["After"][0], s["After"])
    watchdog = int(s["WatchdogSec"][0].rstrip("s"))
    check(watchdog >= 2, "WatchdogSec")
    eq(s["Restart"], ["on-failure"])
    env = env_settings()
    stop = int(s["TimeoutStopSec"][0].rstrip("s"))
    check(int(env["DRAIN_DELAY"]) < int(env["SHUTDOWN_TIMEOUT"]) < stop,
          f"DRAIN_DELAY < SHUTDOWN_TIMEOUT < TimeoutStopSec: "
          f"{env['DRAIN_DELAY']} {env['SHUTDOWN_TIMEOUT']} {stop}")
    eq(s["CapabilityBoundingSet"], [""], "no capability")
    sock = settings(read(SOCKET))
    eq(sock["ListenStream"], ["80"])
    eq(sock["FileDescriptorName"], ["http"])


@suite.test
def env_file_holds_no_password():
    """evapi.env: DATABASE_URL is a placeholder, never a real password"""
    url = env_settings()["DATABASE_URL"]
    check(re.match(r"postgresql://evapi:CHANGE-ME@", url), url)


@suite.test
def make_install_puts_the_units():
    """make install: units in the unit directory, evapi.env 0600, kept if present"""
    mk = read(os.path.join(BUILD, "Makefile"))
    m = re.search(r"(?m)^systemdsystemunitdir = (.*)$", mk)
    if m is None or not m.group(1).strip():
        skip("configured --without-systemdsystemunitdir")
    dest = tempfile.mkdtemp(dir=TMP)
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}
    # Only the data targets: nothing is rebuilt under the running tests.
    targets = ["install-systemdsystemunitDATA",
               "install-nodist_systemdsystemunitDATA", "install-data-local"]
    r = subprocess.run(["make", "-s", "-C", BUILD, f"DESTDIR={dest}",
                        *targets], env=env, capture_output=True, text=True,
                       timeout=120)
    eq(r.returncode, 0, r.stderr)
    prefix = re.search(r"(?m)^prefix = (.*)$", mk).group(1).strip()
    unitdir = dest + re.sub(r"\$[{(]prefix[})]", prefix, m.group(1).strip())
    eq(sorted(os.listdir(unitdir)), ["evapi.service", "evapi.socket"])
    eq(read(os.path.join(unitdir, "evapi.service")), read(SERVICE))
    envfile = dest + settings(read(SERVICE))["EnvironmentFile"][0]
    eq(oct(os.stat(envfile).st_mode & 0o777), "0o600", "evapi.env mode")
    with open(envfile, "a") as f:
        f.write("LOG_LEVEL=debug\n")
    r = subprocess.run(["make", "-s", "-C", BUILD, f"DESTDIR={dest}",
                        "install-data-local"], env=env, capture_output=True,
                       text=True, timeout=120)
    eq(r.returncode, 0, r.stderr)
    check(read(envfile).endswith("LOG_LEVEL=debug\n"),
          "a second install kept the edited evapi.env")


if __name__ == "__main__":
    suite.run()
