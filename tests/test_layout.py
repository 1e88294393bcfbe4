#!/usr/bin/env python3
"""The static binary's code layout (issue: performance).

core/static-link.order lists the functions a running evapi uses; the link
puts them first so they share pages and the idle RSS stays small. These cases
catch the two ways that can silently stop working: the list goes stale
(functions renamed or gone: regenerate it with scripts/gen-link-order), or
the link no longer applies it (the functions are spread over the text).
The memory figure itself is bench/run's, not a test's.
"""

import os
import re
import subprocess

import evapitest as et

STATIC = os.environ.get("EVAPI_STATIC") == "yes"
ORDERED = os.environ.get("EVAPI_LINK_ORDER") == "yes"
suite = et.Suite("layout", required=STATIC)
if not STATIC:
    suite.skip_all("needs the static build (./configure --enable-static-binary)")
elif not ORDERED:
    suite.skip_all("the linker took no INSERT script: the binary is in link order")

ORDER_FILE = os.path.join(os.environ.get("top_srcdir", "."), "core", "static-link.order")
DEFAULT_PLUGINS = {"health", "metrics", "ready", "version", "pg", "items"}


def order_names():
    with open(ORDER_FILE) as f:
        lines = [line.rstrip("\n") for line in f]
    return lines


def text_symbols():
    """name -> (address, size) of every function in the binary."""
    out = subprocess.run(["nm", "-S", et.evapi_bin()], capture_output=True,
                         text=True, check=True, timeout=60).stdout
    syms = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in "tTwW":
            syms.setdefault(parts[3], (int(parts[0], 16), int(parts[1], 16)))
    return syms


def listed_functions():
    names = [re.sub(r"^\.text\.(startup\.)?", "", n) for n in order_names()]
    return names


@suite.test
def order_file_is_section_names():
    """every line of core/static-link.order is one .text section name"""
    lines = order_names()
    et.check(len(lines) > 500, f"only {len(lines)} lines")
    bad = [n for n in lines if not re.fullmatch(r"\.text\.[A-Za-z_][A-Za-z0-9_.]*", n)]
    et.eq(bad, [], "lines that are not .text.NAME")
    et.eq(len(lines), len(set(lines)), "duplicate lines")


@suite.test
def order_file_is_current():
    """nearly all listed functions exist in this binary (else: stale list)"""
    built_in = set(os.environ.get("EVAPI_BUILTIN_PLUGINS", "").split())
    if built_in and built_in != DEFAULT_PLUGINS:
        et.skip(f"built with plugins {sorted(built_in)}: the list is for "
                f"{sorted(DEFAULT_PLUGINS)}")
    syms = text_symbols()
    names = listed_functions()
    missing = [n for n in names if n not in syms]
    et.check(len(missing) <= len(names) // 20,
             f"{len(missing)} of {len(names)} listed functions are not in the "
             f"binary (e.g. {missing[:5]}): run scripts/gen-link-order")


@suite.test
def listed_functions_are_together():
    """the listed functions are laid out next to each other"""
    syms = text_symbols()
    found = sorted(syms[n] for n in listed_functions() if n in syms)
    et.check(len(found) > 100, f"only {len(found)} listed functions found")
    size = sum(s for _, s in found)
    # Some listed code cannot be moved: musl's and OpenSSL's assembly objects
    # have one plain .text section each. The rest must sit in one stretch not
    # much longer than itself; in link order it is spread over the text.
    window = int(size * 1.3)
    best, j = 0, 0
    for i, (addr, _) in enumerate(found):
        while found[j][0] < addr - window:
            j += 1
        best = max(best, i - j + 1)
    et.check(best >= len(found) * 0.85,
             f"only {best} of {len(found)} listed functions lie within "
             f"{window} bytes: the link did not apply core/static-link.order")


suite.run()
