#!/usr/bin/env python3
"""Bad configuration ends the process fast, with exit 78 and one line."""

import os
import socket
import subprocess
import time

from evapitest import Suite, check, eq, run_evapi, base_env, free_port

suite = Suite("config")
STATIC = os.environ.get("EVAPI_STATIC") == "yes"

BAD = [
    ("PORT", "abc"), ("PORT", "70000"), ("PORT", "0"), ("PORT", "-1"),
    ("PORT", "8080x"), ("PORT", " 80"), ("LOG_LEVEL", "loud"),
    ("BIND_ADDRESS", "example.com"), ("SHUTDOWN_TIMEOUT", "soon"),
    ("WORKERS", "0"), ("API_PLUGINS", "../x"), ("API_PLUGINS", "/abs/x"),
    ("API_PLUGINS", "a/b"), ("API_PLUGINS", "health,,version"),
    ("API_PLUGINS", "Health"), ("API_PLUGIN_DIR", "relative"),
    ("MAX_HEADER_SIZE", "1"), ("IDLE_TIMEOUT", "0"), ("DRAIN_DELAY", "10"),
]


def expect_config_error(env, name, value=None, args=()):
    t0 = time.monotonic()
    r = run_evapi(list(args), env, timeout=5)
    took = time.monotonic() - t0
    eq(r.returncode, 78, f"{name}: exit code; stderr={r.stderr!r}")
    lines = r.stderr.strip().splitlines()
    eq(len(lines), 1, f"{name}: one line on stderr: {r.stderr!r}")
    check(name in lines[0], f"{name} not named: {lines[0]}")
    if value is not None:
        check(value.strip() in lines[0], f"value not named: {lines[0]}")
    check(took < 1.0, f"{name}: took {took:.2f}s")
    return lines[0]


def held_port():
    """A listening socket on a loopback port, held by the test."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    return s


def make_bad_test(name, value):
    def t():
        if name == "PORT":
            # No port to hold: the bad value is the port itself.
            expect_config_error(base_env(PORT=value), name, value)
            return
        # The configured port is taken: had evapi bound before validating
        # every variable, its one line would say "already in use" instead.
        with held_port() as s:
            env = base_env(PORT=s.getsockname()[1], **{name: value})
            line = expect_config_error(env, name, value)
            check("already in use" not in line,
                  f"bound before validating {name}: {line}")
    t.__doc__ = (f"{name}={value!r} exits 78 naming the variable and value, "
                 "before binding")
    return t


for name, value in BAD:
    suite.test(make_bad_test(name, value))


@suite.test
def port_in_use():
    """A port already in use exits 78 naming PORT"""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        line = expect_config_error(base_env(PORT=port), "PORT")
        check("already in use" in line, line)


@suite.test
def unknown_plugin():
    """An unknown plugin exits 78 and lists the plugins that exist"""
    r = run_evapi([], base_env(PORT=free_port(), API_PLUGINS="health,nosuch"))
    eq(r.returncode, 78)
    check('"nosuch"' in r.stderr, r.stderr)
    check("health" in r.stderr and "version" in r.stderr, r.stderr)


@suite.test
def check_config_ok_binds_nothing():
    """--check-config exits 0 on a good configuration without binding"""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        # The port is taken: a server would fail; a check must not care.
        r = run_evapi(["--check-config"], base_env(PORT=port))
        eq(r.returncode, 0, r.stderr)
        check("valid" in r.stdout, r.stdout)


@suite.test
def check_config_bad():
    """--check-config exits 78 on a bad configuration"""
    expect_config_error(base_env(PORT="abc"), "PORT", "abc", args=["--check-config"])
    r = run_evapi(["--check-config"], base_env(API_PLUGINS="nosuch"))
    eq(r.returncode, 78)


def ready_available():
    return STATIC or os.path.exists(
        os.path.join(os.environ.get("EVAPI_PLUGIN_DIR", ""), "ready.so"))


@suite.test
def check_config_prints_one_line():
    """--check-config: one result line on stdout, nothing on stderr, no log
    line, even at LOG_LEVEL=debug with plugins that log at init"""
    env = base_env(PORT=free_port(), LOG_LEVEL="debug", ACCESS_LOG="on")
    if ready_available():
        env.update(API_PLUGINS="health,ready,version",
                   DATABASE_URL="postgresql://app:pw@127.0.0.1:1/app")
    r = run_evapi(["--check-config"], env)
    eq(r.returncode, 0, r.stderr)
    eq(r.stderr, "", "stderr")
    lines = r.stdout.splitlines()
    eq(len(lines), 1, f"one line on stdout: {r.stdout!r}")
    check(lines[0].startswith("evapi: configuration is valid (plugins: "),
          lines[0])
    check("{" not in r.stdout, f"a JSON log line: {r.stdout!r}")
    # -t is the same check.
    r2 = run_evapi(["-t"], env)
    eq((r2.returncode, r2.stdout), (0, r.stdout), "-t")


@suite.test
def check_config_errors_only():
    """--check-config on a bad configuration: nothing on stdout, only
    "evapi: " lines on stderr, exit 78"""
    for env in (base_env(PORT="70000"), base_env(API_PLUGINS="nosuch"),
                base_env(API_PLUGINS="health", HEALTHCHECK_PATH="x")):
        r = run_evapi(["--check-config"], env)
        eq(r.returncode, 78, r.stderr)
        eq(r.stdout, "", "stdout")
        lines = r.stderr.splitlines()
        check(lines and all(ln.startswith("evapi: ") for ln in lines),
              f"stderr: {r.stderr!r}")


@suite.test
def check_config_usage():
    """--check-config with an extra argument, or an unknown option, exits
    64 (EX_USAGE) without checking anything"""
    for args in (["--check-config", "extra"], ["--check-konfig"], ["-x"]):
        r = run_evapi(args, base_env(PORT="abc"))
        eq(r.returncode, 64, f"{args}: {r.stderr!r}")
        eq(r.stdout, "", "stdout")
        check("PORT" not in r.stderr, f"{args} checked the configuration")


@suite.test
def help_lists_every_variable():
    """--help lists every variable with its default"""
    r = run_evapi(["--help"], base_env(API_PLUGINS="health,ready,version"))
    eq(r.returncode, 0)
    for var in ("PORT", "BIND_ADDRESS", "LOG_LEVEL", "ENVIRONMENT",
                "API_PLUGINS", "API_PLUGIN_PATH", "API_PLUGIN_DIR",
                "SHUTDOWN_TIMEOUT", "DRAIN_DELAY", "WORKERS",
                "MAX_HEADER_SIZE", "MAX_BODY_SIZE", "IDLE_TIMEOUT",
                "ACCESS_LOG", "ACCESS_LOG_PROBES", "HEALTHCHECK_PATH",
                "HEALTHCHECK_TIMEOUT_MS"):
        check(var in r.stdout, f"{var} missing from --help")
    check("a whole number from 1 to 65535 (default: 8080)" in r.stdout,
          "ranges and defaults shown")
    if ready_available():
        for var in ("DATABASE_URL", "READY_TIMEOUT_MS", "READY_CACHE_MS"):
            check(f"{var} " in r.stdout and "[ready]" in r.stdout,
                  f"{var} of plugin ready missing from --help")
    # A plugin not in API_PLUGINS: its settings are not listed.
    r = run_evapi(["--help"], base_env(API_PLUGINS="health"))
    check("DATABASE_URL" not in r.stdout, "only the plugins that run")


@suite.test
def usage_errors():
    """An unknown option exits 64 with a hint"""
    r = run_evapi(["--frobnicate"], base_env())
    eq(r.returncode, 64)
    check("--help" in r.stderr, r.stderr)


@suite.test
def empty_means_default():
    """An empty variable counts as unset (compose passes empty strings)"""
    r = run_evapi(["--check-config"], base_env(LOG_LEVEL="", ENVIRONMENT=""))
    eq(r.returncode, 0, r.stderr)


suite.run()
