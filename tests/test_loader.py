#!/usr/bin/env python3
"""The plugin loader with real .so files: every failure, and the good path.

Each fixture is compiled here from tests/fixtures/*.c and loaded by the real
binary through dlopen. Every failure must exit 78 before binding and name
the plugin, the file and the reason.
"""

import os
import shutil
import subprocess
import tempfile

from fixtures import build, copy_builtins, plugin_dir, pkg_flags
from evapitest import (Suite, Server, check, eq, run_evapi, base_env,
                       free_port, port_is_listening, skip)

STATIC = os.environ.get("EVAPI_STATIC") == "yes"
suite = Suite("loader", required=not STATIC)
if STATIC:
    suite.skip_all("the static build has no loader (plugins are built in)")

PDIR = plugin_dir(suite)
copy_builtins(PDIR)


def variant(name):
    path = os.path.join(PDIR, f"{name}.so")
    if not os.path.exists(path):
        build("variants.c", path, defines=[f"VARIANT_{name}"])
    return path


def expect_refusal(plugins, *needles, pdir=None):
    port = free_port()
    env = base_env(PORT=port, API_PLUGINS=plugins, API_PLUGIN_DIR=pdir or PDIR)
    r = run_evapi([], env, timeout=5)
    eq(r.returncode, 78, f"exit code; stderr={r.stderr!r}")
    check(not r.stdout.count("evapi started"), "never started")
    check(not port_is_listening(port), "nothing listening")
    for n in needles:
        check(n in r.stderr, f"{n!r} not in {r.stderr!r}")
    return r.stderr


@suite.test
def good_plugin_serves():
    """A good fixture plugin loads next to the shipped ones and serves"""
    build("good.c", os.path.join(PDIR, "good.so"))
    with Server(suite, API_PLUGINS="health,good", API_PLUGIN_DIR=PDIR) as s:
        s.start()
        eq(s.get("/good").json(), {"good": True})
        eq(s.get("/health").status, 200)


@suite.test
def response_headers_that_break_the_head_are_refused():
    """evapi_response_header takes a plain header and refuses CR, LF and
    other control bytes in a value, a name that is not a token, and the
    headers the host writes itself (any case); what it refused never
    reaches the head"""
    build("good.c", os.path.join(PDIR, "good.so"))
    with Server(suite, API_PLUGINS="health,good", API_PLUGIN_DIR=PDIR) as s:
        s.start()
        r = s.get("/good/headers")
        eq(r.status, 200)
        eq(r.json(), [1, 1] + [0] * 12)
        eq(r.header("X-Fine"), "a value, with spaces")
        eq(r.header("Content-Language"), "en")
        for name in ("X-Split", "X-Injected", "X-Newline", "X-Delete", "Transfer-Encoding"):
            eq(r.header(name), None, name)
        eq(r.header("Content-Length"), str(len(r.body)))
        check(r.header("X-Request-Id") not in (None, "mine"), r.headers)
        # Each header the host owns appears once, as the host wrote it.
        for name in ("Date", "Content-Length", "Connection", "X-Request-Id"):
            eq(sum(1 for k, _ in r.headers if k.lower() == name.lower()), 1, name)


@suite.test
def missing_file_lists_plugins():
    """A missing file: named, with the plugins that do exist"""
    expect_refusal("health,absent", '"absent"', "no absent.so in API_PLUGIN_PATH",
                   "health", "version")


@suite.test
def plugin_path_searched_in_order():
    """API_PLUGIN_PATH: the first directory holding NAME.so wins; a directory
    that does not exist is named when the plugin is not found"""
    first, second = plugin_dir(suite), plugin_dir(suite)
    build("good.c", os.path.join(second, "good.so"))
    path = f"/nonexistent-evapi-dir:{first}:{second}:{PDIR}"
    with Server(suite, API_PLUGINS="health,good", API_PLUGIN_PATH=path,
                API_PLUGIN_DIR=None) as s:
        s.start(path="/good")
        eq(s.get("/good").json(), {"good": True})
    port = free_port()
    env = base_env(PORT=port, API_PLUGINS="absent", API_PLUGIN_PATH=path)
    r = run_evapi([], env, timeout=5)
    eq(r.returncode, 78, r.stderr)
    check("directories that do not exist: /nonexistent-evapi-dir" in r.stderr,
          r.stderr)


@suite.test
def not_a_shared_object():
    """A text file named .so: not a shared object"""
    p = os.path.join(PDIR, "text.so")
    with open(p, "w") as f:
        f.write("not an ELF file\n")
    os.chmod(p, 0o644)
    expect_refusal("text", '"text"', p, "not a shared object")


@suite.test
def no_descriptor():
    """A shared object without evapi_plugin_NAME: named symbol missing"""
    expect_refusal("nodesc", variant("nodesc"), "no descriptor symbol evapi_plugin_nodesc")


@suite.test
def bad_magic():
    """A descriptor with a wrong magic value"""
    expect_refusal("badmagic", variant("badmagic"), "bad magic 0xdeadbeef")


@suite.test
def abi_major_field_by_field():
    """An ABI major mismatch is reported field by field"""
    expect_refusal("abimajor", variant("abimajor"), "incompatible plugin ABI",
                   "abi_major: evapi expects 2, plugin has 3",
                   "pointer_size: evapi expects 8, plugin has 4",
                   "rebuild the plugin")


@suite.test
def abi_1_plugin_refused():
    """A plugin built for the 1.x contract: refused, naming both versions,
    telling to rebuild"""
    expect_refusal("abi1", variant("abi1"),
                   "built for evapi ABI 1.1, this evapi has ABI 2.1",
                   "rebuild the plugin against this evapi's <evapi/plugin.h>")


@suite.test
def abi_minor_newer():
    """A plugin needing a newer ABI minor is refused with both numbers"""
    expect_refusal("abiminor", variant("abiminor"), "abi_minor (plugin needs newer)",
                   "plugin has 99")


@suite.test
def wrong_name():
    """A descriptor whose name differs from the file"""
    expect_refusal("wrongname", variant("wrongname"), 'names itself "other"')


@suite.test
def init_failure():
    """init returning an error"""
    expect_refusal("initfail", variant("initfail"), '"initfail"', "init failed")


@suite.test
def duplicate_route():
    """A route another plugin registered names both plugins"""
    expect_refusal("health,dupe", variant("dupe"),
                   'route /health is already registered by plugin "health"')


@suite.test
def unresolved_symbol():
    """An unresolved symbol fails at load (RTLD_NOW), not mid-request"""
    expect_refusal("unresolved", variant("unresolved"),
                   "needs a function this evapi (ABI 2.1) lacks",
                   "evapi_symbol_that_does_not_exist")
    expect_refusal("unresolvedother", variant("unresolvedother"), "dlopen failed",
                   "some_library_function_that_is_missing")


@suite.test
def plugin_config_error():
    """A plugin's bad setting exits 78 with one line naming it and what is
    allowed, before binding"""
    variant("badconfig")
    for name, value, allowed in (("FIXTURE_LIMIT", "11", "1 to 10"),
                                 ("FIXTURE_MODE", "slow", "one of fast, safe"),
                                 ("FIXTURE_WAIT", "5ms", "10ms to 60000ms")):
        port = free_port()
        env = base_env(PORT=port, API_PLUGINS="badconfig", API_PLUGIN_DIR=PDIR,
                       **{name: value})
        r = run_evapi([], env)
        eq(r.returncode, 78, r.stderr)
        lines = r.stderr.strip().splitlines()
        eq(len(lines), 1, r.stderr)
        check(f'{name}="{value}"' in lines[0] and allowed in lines[0]
              and 'plugin "badconfig"' in lines[0], lines[0])
        check(not port_is_listening(port), "nothing bound")


@suite.test
def plugin_settings_parsed():
    """Typed settings reach the plugin parsed: an integer, a choice, a
    duration in ms; and --help lists them for a plugin in API_PLUGINS"""
    variant("badconfig")
    with Server(suite, API_PLUGINS="badconfig", API_PLUGIN_DIR=PDIR,
                FIXTURE_LIMIT="7", FIXTURE_MODE="safe",
                FIXTURE_WAIT="2s") as s:
        s.start(path="/settings")
        eq(s.get("/settings").json(), {"limit": 7, "mode": "safe",
                                       "wait_ms": 2000})
    r = run_evapi(["--help"], base_env(API_PLUGINS="badconfig",
                                       API_PLUGIN_DIR=PDIR))
    eq(r.returncode, 0)
    for needle in ("FIXTURE_LIMIT", "[badconfig] a limit of the fixture",
                   "a whole number from 1 to 10 (default: 5)",
                   "one of fast, safe (default: fast)"):
        check(needle in r.stdout, f"{needle!r} in --help")


@suite.test
def bad_setting_declarations():
    """A setting a plugin declares badly, or one that is evapi's own: refused
    at load, named"""
    expect_refusal("badsetting", variant("badsetting"), "setting lower_case",
                   "upper case")
    expect_refusal("coreclash", variant("coreclash"),
                   "setting PORT is already evapi's")


@suite.test
def needs_start_first_and_export():
    """A plugin's .needs are started before it even when not listed, and it
    imports what they export; plugins needing each other are refused"""
    variant("exporter")
    variant("needer")
    with Server(suite, API_PLUGINS="health,needer", API_PLUGIN_DIR=PDIR) as s:
        s.start(path="/answer")
        eq(s.get("/answer").json(), {"answer": 42})
        started = [r for r in s.log_records() if r["msg"] == "evapi started"]
        eq(started[0]["plugins"], "health,exporter,needer")
    variant("cyclea")
    variant("cycleb")
    expect_refusal("cyclea", 'plugin "cycleb" needs "cyclea", which needs it back')


@suite.test
def handler_without_answer():
    """A handler that returns without answering: 500 and an error log line
    naming the route and the plugin; the server goes on"""
    variant("noanswer")
    with Server(suite, API_PLUGINS="health,noanswer", API_PLUGIN_DIR=PDIR,
                LOG_LEVEL="info") as s:
        s.start()
        r = s.get("/forget")
        eq(r.status, 500)
        eq(s.get("/health").status, 200)
        errs = [x for x in s.log_records() if x["level"] == "error"]
        check(errs and errs[0]["route"] == "/forget"
              and errs[0]["plugin"] == "noanswer", errs)


def unsafe_dir():
    d = plugin_dir(suite)
    shutil.copy(variant("ctorabort"), os.path.join(d, "ctorabort.so"))
    os.chmod(os.path.join(d, "ctorabort.so"), 0o644)
    return d


@suite.test
def group_writable_file_refused():
    """A group-writable plugin is refused before dlopen (its constructor never runs)"""
    d = unsafe_dir()
    os.chmod(os.path.join(d, "ctorabort.so"), 0o664)
    expect_refusal("ctorabort", "writable by group or others", pdir=d)


@suite.test
def world_writable_dir_refused():
    """A world-writable plugin directory is refused before dlopen"""
    d = unsafe_dir()
    os.chmod(d, 0o777)
    expect_refusal("ctorabort", "plugin directory", "writable by group or others", pdir=d)
    os.chmod(d, 0o755)


@suite.test
def foreign_owner_refused():
    """A plugin owned by another non-root user is refused"""
    if os.geteuid() != 0:
        skip("needs root to chown a file to another user")
    d = unsafe_dir()
    os.chown(os.path.join(d, "ctorabort.so"), 65534, 65534)
    expect_refusal("ctorabort", "owned by another user", pdir=d)


@suite.test
def symlink_out_refused():
    """A symlink leading out of the plugin directory is refused"""
    outside = plugin_dir(suite)
    target = os.path.join(outside, "real.so")
    shutil.copy(variant("ctorabort"), target)
    d = plugin_dir(suite)
    os.symlink(target, os.path.join(d, "ctorabort.so"))
    expect_refusal("ctorabort", "symlink leads out of the plugin directory", pdir=d)


@suite.test
def symlink_inside_ok():
    """A symlink to a sibling inside the directory is accepted"""
    d = plugin_dir(suite)
    build("good.c", os.path.join(d, "good-1.0.so"))
    os.symlink("good-1.0.so", os.path.join(d, "good.so"))
    with Server(suite, API_PLUGINS="good", API_PLUGIN_DIR=d) as s:
        s.start(path="/good")
        eq(s.get("/good").status, 200)


@suite.test
def out_of_tree_plugin_with_pkg_config():
    """A plugin built out of tree against the installed header and evapi.pc"""
    top = os.environ["top_builddir"]
    dest = tempfile.mkdtemp(prefix="evapi-destdir-")
    suite.cleanups.append(lambda: shutil.rmtree(dest, ignore_errors=True))
    r = subprocess.run([os.environ.get("MAKE", "make"), "-C", top, "install",
                        f"DESTDIR={dest}"], capture_output=True, text=True)
    eq(r.returncode, 0, r.stderr[-2000:])
    pcs = [os.path.join(root, f) for root, _, files in os.walk(dest)
           for f in files if f == "evapi.pc"]
    eq(len(pcs), 1, "one evapi.pc installed")
    env = dict(os.environ, PKG_CONFIG_PATH=os.path.dirname(pcs[0]),
               PKG_CONFIG_SYSROOT_DIR=dest)
    flags = subprocess.run(["pkg-config", "--cflags", "evapi"], env=env,
                           capture_output=True, text=True, check=True).stdout.split()
    check(any(dest in f for f in flags), f"cflags point into the install: {flags}")
    # Only the installed header: no -I into the source tree.
    d = plugin_dir(suite)
    build("good.c", os.path.join(d, "good.so"), cflags=flags)
    with Server(suite, API_PLUGINS="good", API_PLUGIN_DIR=d) as s:
        s.start(path="/good")
        eq(s.get("/good").json(), {"good": True})


suite.run()
