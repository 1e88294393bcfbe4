#!/usr/bin/env python3
"""The core's folders depend on each other in one direction.

core/ is grouped by concern, each folder building on the ones before it:

    util < config < loop < stats < http < plugin < server < cli

(util: allocation, logging, character tables; config: the variables; loop:
the event loops plugins see; stats: counting; http: connections, requests,
routes, responses; plugin: the host, loaders and the plugin API; server:
workers, listeners, the drain; cli: main and its modes). A folder may use
the ones before it and never one after it, in what it includes and in what
it links against. Plugins see only the public headers. In the static
binary, json-c allocates through the core's cache (core/util/json-alloc.c):
its archive is linked with every allocator call renamed, none left out.
"""

import collections
import glob
import os
import re
import shlex
import subprocess

import evapitest as et

suite = et.Suite("architecture")

TOP = os.environ.get("top_srcdir", os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("top_builddir", os.getcwd())
ORDER = ["util", "config", "loop", "stats", "http", "plugin", "server", "cli"]
GENERATED = {"build-info.c", "builtin-plugins.c"}  # written by make
NM = shlex.split(os.environ.get("EVAPI_NM") or "nm")  # configure's: "nm -B"
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def sources(folder):
    return sorted(glob.glob(os.path.join(TOP, "core", folder, "*.[ch]")))


def includes(path):
    with open(path, encoding="utf-8") as f:
        return INCLUDE.findall(f.read())


def backwards(edges):
    """The edges (a, b) that point from a folder to a later one."""
    return sorted((a, b) for a, b in edges if ORDER.index(b) > ORDER.index(a))


@suite.test
def every_folder_has_a_place():
    """every folder of core/ has its place in the order, and no file sits loose"""
    # An in-tree build adds core/.deps and the generated C files.
    folders = sorted(d for d in os.listdir(os.path.join(TOP, "core"))
                     if os.path.isdir(os.path.join(TOP, "core", d)) and not d.startswith("."))
    et.eq(folders, sorted(ORDER), "core/ folders")
    loose = sorted(os.path.basename(p) for p in glob.glob(os.path.join(TOP, "core", "*.c")))
    et.eq([f for f in loose if f not in GENERATED], [], "C files directly under core/")


@suite.test
def includes_point_down():
    """#include "folder/..." in core/ names only the folder itself or earlier ones"""
    bad = []
    for folder in ORDER:
        for path in sources(folder):
            for inc in includes(path):
                target = inc.split("/")[0] if "/" in inc else folder
                if target not in ORDER:
                    continue  # config.h, build-info.h: generated, shared
                if ORDER.index(target) > ORDER.index(folder):
                    bad.append(f"{os.path.relpath(path, TOP)} includes {inc}")
    et.eq(bad, [], "includes of a later folder")


def object_symbols():
    """folder -> (defined, undefined) symbols of its objects in the core library."""
    lib = os.path.join(BUILD, "libevapicore.a")
    if not os.path.exists(lib):
        et.skip(f"{lib} is not built")
    folder_of = {}
    for folder in ORDER:
        for path in sources(folder):
            if path.endswith(".c"):
                base = os.path.basename(path)[:-2]
                et.check(base not in folder_of, f"{base}.c is in two folders")
                folder_of[base] = folder
    out = subprocess.run([*NM, "-A", lib], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    defined, undefined = {}, collections.defaultdict(set)
    for line in out.splitlines():
        # libevapicore.a:libevapicore_a-host.o:0000000000000000 T evapi_host_open
        m = re.match(r"[^:]+:(?:libevapicore_a-)?([^:]+)\.o:\s*(\S*)\s+([A-Za-z])\s+(\S+)$", line)
        if not m:
            continue
        obj, _, kind, name = m.groups()
        folder = folder_of.get(obj)
        if folder is None:
            continue  # build-info.o: generated
        if kind == "U":
            undefined[folder].add(name)
        elif kind in "TDBRCV":
            defined[name] = folder
    return defined, undefined


@suite.test
def links_point_down():
    """what each folder's code calls is defined in the folder itself or an earlier one"""
    defined, undefined = object_symbols()
    et.check(len(defined) > 150, f"only {len(defined)} symbols defined")
    edges = collections.defaultdict(set)
    for folder, names in undefined.items():
        for name in names:
            if name in defined and defined[name] != folder:
                edges[(folder, defined[name])].add(name)
    bad = [f"{a} -> {b}: {sorted(edges[(a, b)])[:4]}" for a, b in backwards(edges)]
    et.eq(bad, [], "calls into a later folder")
    # The check sees real edges: http counts into stats, the server runs http.
    et.check(("http", "stats") in edges and ("server", "http") in edges,
             f"expected edges missing: {sorted(edges)}")


@suite.test
def plugins_see_only_public_headers():
    """plugins/ and examples/ include the installed headers and their own files only"""
    bad = []
    for path in sorted(glob.glob(os.path.join(TOP, "plugins", "*", "*.[ch]")) +
                       glob.glob(os.path.join(TOP, "examples", "*", "*.[ch]"))):
        here = os.path.dirname(path)
        for inc in includes(path):
            if inc == "config.h" or os.path.exists(os.path.join(here, inc)):
                continue
            bad.append(f"{os.path.relpath(path, TOP)} includes \"{inc}\"")
    et.eq(bad, [], "private includes in plugins")


# libc functions that hand out or take back heap blocks.
LIBC_ALLOCATORS = {"malloc", "calloc", "realloc", "reallocarray", "free",
                   "strdup", "strndup", "asprintf", "vasprintf", "aligned_alloc",
                   "posix_memalign", "memalign", "getline", "getdelim",
                   "open_memstream", "realpath"}


@suite.test
def static_json_c_allocates_through_the_cache():
    """the static binary's json-c allocates through evapi's cache and never through libc's allocator"""
    if os.environ.get("EVAPI_STATIC") != "yes":
        et.elsewhere("the static build's suite checks it")
    lib = os.path.join(BUILD, "libjson-c-evapi.a")
    et.check(os.path.exists(lib),
             f"{lib} is missing: configure found no objcopy or no libjson-c.a")
    out = subprocess.run([*NM, "-u", lib], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    undefined = {line.split()[-1] for line in out.splitlines() if line.strip().startswith("U ")}
    # A block json-c gets from one allocator and frees through the other
    # corrupts the heap: every way in and out must be renamed together.
    et.eq(sorted(undefined & LIBC_ALLOCATORS), [], "libc allocator calls left in json-c")
    et.check({"evapi_malloc", "evapi_free", "evapi_json_strdup"} <= undefined,
             f"json-c does not call the cache: {sorted(u for u in undefined if 'evapi' in u)}")
    syms = subprocess.run([*NM, et.evapi_bin()], capture_output=True, text=True,
                          check=True, timeout=60).stdout
    et.check(re.search(r" T evapi_json_calloc$", syms, re.M), "evapi_json_calloc is not in the binary")


@suite.test
def backwards_is_caught():
    """the order check itself flags an edge pointing the wrong way"""
    et.eq(backwards({("stats", "http"), ("http", "stats")}), [("stats", "http")])


suite.run()
