#!/usr/bin/env python3
"""The reference documentation agrees with the code.

The variable tables of docs/configuration.md and evapi(8) are what this
binary declares (scripts/gen-vars-doc --check), so a variable added
without its documentation fails here; the man pages render without a
warning and `make install` puts them, the header and evapi.pc in place;
the points where the documentation once disagreed with the code stay
fixed; the pages link to pages and headings that exist; the README fits a
screen or two; and the user documentation holds no machine path and no
development history."""

import os
import re
import shutil
import subprocess
import tempfile

import evapitest as et
from evapitest import Suite, check, eq, run_evapi, base_env

suite = Suite("docs")
TOP = os.environ.get("top_srcdir", ".")
STATIC = os.environ.get("EVAPI_STATIC") == "yes"
GEN = os.path.join(TOP, "scripts", "gen-vars-doc")
MANS = ["man/evapi.8", "man/evapi-plugin.7"]


def read(rel):
    with open(os.path.join(TOP, rel), encoding="utf-8") as f:
        return f.read()


def user_docs():
    return ["README.md"] + sorted(
        os.path.join("docs", f) for f in os.listdir(os.path.join(TOP, "docs"))
        if f.endswith(".md"))


def gen(*args, top=None):
    cmd = ["python3", GEN, "--evapi", et.evapi_bin(), "--check"]
    if os.path.isdir(os.environ.get("EVAPI_PLUGIN_DIR", "")):
        cmd += ["--plugin-dir", os.environ["EVAPI_PLUGIN_DIR"]]
    if top:
        cmd += ["--top", top]
    return subprocess.run(cmd + list(args), capture_output=True, text=True,
                          timeout=60)


@suite.test
def tables_match_the_binary():
    """docs/configuration.md and evapi(8) list exactly the variables the
    binary declares, and the ones libpq reads"""
    r = gen()
    if r.returncode == 2 and "cannot load libpq" in r.stderr:
        et.skip(r.stderr.strip())
    eq(r.returncode, 0, r.stdout[-3000:] + r.stderr)


@suite.test
def tables_check_can_fail():
    """The check fails on a copy of the docs missing a variable or with a
    changed range (so the test above can fail)"""
    tmp = tempfile.mkdtemp(prefix="evapi-docs-")
    suite.cleanups.append(lambda: shutil.rmtree(tmp, ignore_errors=True))
    for rel, old, new in (
            ("docs/configuration.md", "| `PROBE_PORT` |", "| `PROBE_PORT_X` |"),
            ("man/evapi.8", "from 10 to 60000", "from 10 to 600"),
            ("docs/configuration.md", "| `PGHOST` |", "| `PGHOSTNAME` |")):
        for d in ("docs", "man"):
            shutil.copytree(os.path.join(TOP, d), os.path.join(tmp, d),
                            dirs_exist_ok=True)
        text = read(rel)
        check(old in text, f"{old!r} in {rel}")
        with open(os.path.join(tmp, rel), "w", encoding="utf-8") as f:
            f.write(text.replace(old, new))
        r = gen(top=tmp)
        if r.returncode == 2 and "cannot load libpq" in r.stderr:
            et.skip(r.stderr.strip())
        eq(r.returncode, 1, f"{rel} with {new!r}: {r.stdout[-500:]}")
        check(new in r.stdout, f"the diff shows the change: {r.stdout[-800:]}")


@suite.test
def help_vars_formats():
    """--help-vars takes tsv (default), markdown and man; anything else is a
    usage error"""
    env = base_env(API_PLUGINS="health,version")
    tsv = run_evapi(["--help-vars"], env)
    eq(tsv.returncode, 0, tsv.stderr)
    check(tsv.stdout.startswith("PORT\tcore\t8080\t"), tsv.stdout[:200])
    eq(run_evapi(["--help-vars=tsv"], env).stdout, tsv.stdout, "=tsv")
    md = run_evapi(["--help-vars=markdown"], env).stdout
    check("| `PORT` | `8080` | a whole number from 1 to 65535 |" in md, md[:400])
    man = run_evapi(["--help-vars=man"], env).stdout
    check(".TP\n.B PORT\n" in man, man[:300])
    bad = run_evapi(["--help-vars=xml"], env)
    eq(bad.returncode, 64, bad.stderr)


@suite.test
def disagreements_stay_fixed():
    """What the documentation once said wrong: the image's HEALTHCHECK
    path, the -h and --health aliases, the READY_* ranges, exit status
    128+N, PROBE_PORT's 64 connections, the PG* variables, plugin authors
    sent to the installed header"""
    man8, conf = read("man/evapi.8"), read("docs/configuration.md")
    containers, dockerfile = read("docs/containers.md"), read("Dockerfile")
    cmds = set(re.findall(r'HEALTHCHECK .*CMD (\[.*\])', dockerfile))
    eq(len(cmds), 1, f"one HEALTHCHECK command in the Dockerfile: {cmds}")
    cmd = cmds.pop()
    check(f"HEALTHCHECK CMD {cmd}" in containers, f"docs/containers.md quotes {cmd}")
    for doc in user_docs():
        check("/app/evapi" not in read(doc), f"{doc} names /app/evapi")
    for text, what in ((man8, "man/evapi.8"), (conf, "docs/configuration.md")):
        for s in ("READY_TIMEOUT_MS", "READY_CACHE_MS", "64 connections",
                  "PGHOST", "PGPORT", "PGHOSTADDR", "PGSSLMODE", "PGSSLROOTCERT",
                  "PGGSSENCMODE", "PGCONNECT_TIMEOUT", "128"):
            check(s in text, f"{s} in {what}")
    for s in (r'.BR \-\-help ", " \-h', r'\-\-healthcheck ", " \-\-health ", " \-health',
              "from 10 to 60000", "from 0 to 3600000", "128+N",
              "INCLUDEDIR/evapi/plugin.h", r"evapi\-plugin (7)"):
        check(s in man8, f"{s!r} in man/evapi.8")
    check("source distribution" not in man8.split(".SH FILES")[1].split(".SH EXAMPLES")[0],
          "FILES of evapi(8) names the installed header")
    out = run_evapi(["--help"], base_env()).stdout
    check("--help, -h" in out and "--healthcheck, --health, -health" in out,
          "--help names the aliases")


@suite.test
def man_pages_render_cleanly():
    """groff -man -ww (and mandoc -T lint when installed) warn about
    nothing in either page"""
    if shutil.which("groff") is None:
        et.skip("groff is not installed")
    for page in MANS:
        r = subprocess.run(["groff", "-man", "-ww", "-z", os.path.join(TOP, page)],
                           capture_output=True, text=True)
        eq((r.returncode, r.stderr), (0, ""), f"groff on {page}")
        out = subprocess.run(["groff", "-man", "-Tutf8", "-P-cbou",
                              os.path.join(TOP, page)],
                             capture_output=True, text=True).stdout
        check(len(out) > 2000 and "NAME" in out, f"{page} renders")
    if shutil.which("mandoc"):
        for page in MANS:
            r = subprocess.run(["mandoc", "-T", "lint", "-W", "warning",
                                os.path.join(TOP, page)], capture_output=True, text=True)
            eq(r.stdout + r.stderr, "", f"mandoc -T lint {page}")


@suite.test
def install_puts_the_contract_in_place():
    """make install: evapi(8), evapi-plugin(7), <evapi/plugin.h> and
    evapi.pc, the same files as in the source tree"""
    dest = tempfile.mkdtemp(prefix="evapi-destdir-")
    suite.cleanups.append(lambda: shutil.rmtree(dest, ignore_errors=True))
    r = subprocess.run([os.environ.get("MAKE", "make"), "-C", os.environ["top_builddir"],
                        "install", f"DESTDIR={dest}"], capture_output=True, text=True)
    eq(r.returncode, 0, r.stderr[-2000:])
    found = {}
    for d, _, files in os.walk(dest):
        for f in files:
            found[os.path.relpath(os.path.join(d, f), dest)] = os.path.join(d, f)
    for want, src in (("man8/evapi.8", "man/evapi.8"),
                      ("man7/evapi-plugin.7", "man/evapi-plugin.7"),
                      ("include/evapi/plugin.h", "include/evapi/plugin.h")):
        hits = [p for rel, p in found.items() if rel.endswith("/" + want)]
        eq(len(hits), 1, f"{want} installed once: {sorted(found)}")
        with open(hits[0], encoding="utf-8") as f:
            eq(f.read(), read(src), f"installed {want}")
    check(any(rel.endswith("pkgconfig/evapi.pc") for rel in found), "evapi.pc")
    check("Libraries have been installed" not in r.stdout + r.stderr,
          "no libtool banner")


@suite.test
def every_function_of_the_contract_is_documented():
    """Every function <evapi/plugin.h> exports is described in the plugin
    guide and in evapi-plugin(7)"""
    header = read("include/evapi/plugin.h")
    names = sorted(set(re.findall(r"EVAPI_EXPORT[^;(]*?\b(evapi_\w+)\(", header)))
    check(len(names) > 40, f"the header's functions: {names}")
    guide, man7 = read("docs/plugins.md"), read("man/evapi-plugin.7")
    missing = [f"{n} ({where})" for n in names
               for where, text in (("docs/plugins.md", guide),
                                   ("man/evapi-plugin.7", man7))
               if not re.search(r"\b" + n + r"\b", text)]
    eq(missing, [], "undocumented functions")


def slug(heading):
    """GitHub's anchor for a heading."""
    s = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return s.replace(" ", "-")


@suite.test
def links_resolve():
    """Every relative link of README.md and docs/ names a file that exists,
    and every #anchor a heading of that file"""
    bad = []
    for doc in user_docs():
        text = read(doc)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            rel = os.path.normpath(os.path.join(os.path.dirname(doc), path)) if path else doc
            if not os.path.exists(os.path.join(TOP, rel)):
                bad.append(f"{doc}: {target} (no {rel})")
                continue
            if anchor and rel.endswith(".md"):
                heads = [slug(h) for h in re.findall(r"^#+ (.*)$", read(rel), re.M)]
                if anchor not in heads:
                    bad.append(f"{doc}: {target} (no heading #{anchor})")
    eq(bad, [], "broken links")


@suite.test
def readme_is_short_and_links_every_page():
    """README.md fits a screen or two and links every page of docs/"""
    text = read("README.md")
    check(len(text.splitlines()) <= 100, f"{len(text.splitlines())} lines")
    for doc in user_docs()[1:]:
        check(f"]({doc})" in text, f"README links {doc}")
    eq(len(re.findall(r"^scripts/run-\w+", text, re.M)), 2,
       "exactly the two quick-start commands")


HISTORY = [r"\bthis stop\b", r"\bthe run before\b", r"\bprevious commit\b",
           r"\bearlier (runs|days)\b", r"\bdown from\b", r"\bWIP\b", r"\bTODO\b",
           r"issues were silent", r"\bno longer\b"]
MACHINE = [r"/work/", r"/home/\w", r"/root/", r"deb\.debian\.org",
           r"security\.debian\.org", r"r-seed-", r"\bsnapshot\.debian"]


@suite.test
def no_history_no_machine_paths():
    """User docs hold no development history, machine path or package
    mirror host name"""
    bad = []
    for doc in user_docs() + MANS:
        text = read(doc)
        for pat in HISTORY + MACHINE:
            for m in re.finditer(pat, text):
                line = text.count("\n", 0, m.start()) + 1
                bad.append(f"{doc}:{line}: {m.group(0)!r}")
    eq(bad, [], "history or machine-specific text")


suite.run()
