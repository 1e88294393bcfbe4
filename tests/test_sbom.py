#!/usr/bin/env python3
"""The bill of materials of the static binary (issue 18).

scripts/gen-sbom writes a CycloneDX 1.6 JSON document from the pins
(scripts/static-deps.versions). For the binary under test it must list
evapi with this build's version and commit, its built-in plugins, and every
linked library with the pinned version, source files, sha256 checksums and
licence; be the same bytes when generated again; and pass the published
CycloneDX JSON schema (tests/sbom/validate.sh: the schema from npm, ajv),
which must in turn reject a broken document.

Runs for the static builds (native and, in the arm64 suite, cross).
"""

import copy
import json
import os
import platform
import re
import subprocess
import tempfile

import evapitest as et

STATIC = os.environ.get("EVAPI_STATIC") == "yes"
suite = et.Suite("sbom", required=STATIC)
if not STATIC:
    suite.skip_all("the SBOM describes the static build (./configure --enable-static-binary)")

TOP = os.environ.get("top_srcdir", os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GEN = os.path.join(TOP, "scripts", "gen-sbom")
VALIDATE = os.path.join(TOP, "tests", "sbom", "validate.sh")
ARCH = os.environ.get("EVAPI_CROSS_ARCH") or platform.machine()
PLUGINS = (os.environ.get("EVAPI_BUILTIN_PLUGINS") or "health metrics ready version").split()
WORK = tempfile.mkdtemp(prefix="evapi-sbom-")
suite.cleanups.append(lambda: subprocess.run(["rm", "-rf", WORK], check=False))


def binary_facts():
    """version, short commit and libraries as the binary itself reports them."""
    out = et.run_evapi(["--version"], et.base_env(), timeout=30).stdout
    m = re.match(r"evapi (\S+) \(commit (\S+),", out)
    et.check(m, f"unexpected --version output: {out!r}")
    return m.group(1), m.group(2), out


VERSION, COMMIT, VERSION_TEXT = binary_facts()


def generate(path, **extra):
    args = [GEN, "--arch", ARCH, "--plugins", ",".join(PLUGINS), "-o", path]
    for k, v in extra.items():
        args += [f"--{k}", v]
    r = subprocess.run(args, capture_output=True, text=True, timeout=60)
    et.eq(r.returncode, 0, r.stderr)
    with open(path) as f:
        return json.load(f)


SBOM_PATH = os.path.join(WORK, "evapi.cdx.json")
SBOM = generate(SBOM_PATH)


def pins():
    src, sha, lic, tool = {}, {}, {}, {}
    with open(os.path.join(TOP, "scripts", "static-deps.versions")) as f:
        for line in f:
            w = line.split()
            if not w or w[0].startswith("#"):
                continue
            if w[0] == "source":
                src[w[1]] = (w[2], w[3])
            elif w[0] == "sha256":
                sha[w[1]] = w[2]
            elif w[0] == "licence":
                lic[w[1]] = " ".join(w[2:])
            elif w[0] == "toolchain":
                tool[w[1]] = (w[2], w[3], " ".join(w[4:]))
    return src, sha, lic, tool


def by_name():
    return {c["name"]: c for c in SBOM["components"]}


def licence_of(c):
    lic = c["licenses"][0]
    return lic.get("expression") or lic["license"]["id"]


def validate(*paths):
    return subprocess.run([VALIDATE, *paths], capture_output=True, text=True, timeout=900)


@suite.test
def describes_this_binary():
    """evapi's version and commit are the binary's, and its architecture and plugins are this build's"""
    comp = SBOM["metadata"]["component"]
    et.eq((comp["name"], comp["version"]), ("evapi", VERSION))
    props = {p["name"]: p["value"] for p in comp["properties"]}
    et.check(props["evapi:commit"].startswith(COMMIT), f"{props['evapi:commit']} vs {COMMIT}")
    et.eq(props["evapi:arch"], ARCH)
    et.eq(props["evapi:build"], "static")
    et.eq(props["evapi:build-machine"], platform.machine())
    et.eq(props["evapi:builtin-plugins"].split(","), PLUGINS)
    names = by_name()
    for p in PLUGINS:
        et.check(f"evapi-plugin-{p}" in names, f"plugin {p} listed")


@suite.test
def every_pinned_library_with_its_pins():
    """each linked library: pinned version, .dsc sha256, every pinned source file, licence, purl"""
    src, sha, lic, _ = pins()
    names = by_name()
    wanted = ["libevent", "json-c"] + (["libpq", "openssl"] if "ready" in PLUGINS else [])
    listed_files = set()
    for lib in wanted:
        pkg, ver = src[lib]
        c = names.get(lib)
        et.check(c is not None, f"{lib} missing")
        et.eq(c["version"], ver, lib)
        et.eq(licence_of(c), lic[lib], f"{lib} licence")
        dsc = f"{pkg}_{ver.split(':', 1)[-1]}.dsc"
        et.eq(c["hashes"], [{"alg": "SHA-256", "content": sha[dsc]}], f"{lib} .dsc hash")
        et.check(c["purl"].startswith(f"pkg:deb/debian/{pkg}@"), c["purl"])
        for ref in c["externalReferences"]:
            name = ref["url"].replace("%7E", "~").replace("%2B", "+")
            et.eq(ref["hashes"][0]["content"], sha.get(name), f"pin of {name}")
            listed_files.add(name)
    if "ready" in PLUGINS:
        et.eq(sorted(listed_files), sorted(sha), "every pinned file is in the SBOM")


@suite.test
def toolchain_libraries_listed():
    """musl and libgcc (linked too) with their pinned versions and licences"""
    _, _, _, tool = pins()
    names = by_name()
    for lib, (pkg, ver, expr) in tool.items():
        et.eq(names[lib]["version"], ver, lib)
        et.eq(licence_of(names[lib]), expr, f"{lib} licence")


@suite.test
def pinned_versions_are_in_the_binary():
    """the binary reports (or contains) the pinned upstream versions of libevent, json-c, OpenSSL"""
    names = by_name()
    up = {n: next(p["value"] for p in names[n]["properties"] if p["name"] == "evapi:upstream-version")
          for n in names if n in ("libevent", "json-c", "openssl")}
    et.check(f"libevent {up['libevent']}-stable" in VERSION_TEXT, VERSION_TEXT)
    et.check(f"json-c {up['json-c']}" in VERSION_TEXT, VERSION_TEXT)
    if "openssl" in up:
        with open(et.evapi_bin(), "rb") as f:
            data = f.read()
        et.check(b"\0" + up["openssl"].encode() + b"\0" in data,
                 f"OpenSSL {up['openssl']} version string in the binary")


@suite.test
def dependency_graph_resolves():
    """every dependency names a listed component; evapi depends on each plugin"""
    refs = {c["bom-ref"] for c in SBOM["components"]} | {"evapi"}
    for d in SBOM["dependencies"]:
        et.check(d["ref"] in refs, d["ref"])
        for r in d["dependsOn"]:
            et.check(r in refs, f"{d['ref']} -> {r}")
    top = next(d for d in SBOM["dependencies"] if d["ref"] == "evapi")
    et.check(all(f"evapi/plugins/{p}" in top["dependsOn"] for p in PLUGINS), top)


@suite.test
def generated_deterministically():
    """generated twice: the same bytes (no clock, no random serial number)"""
    again = os.path.join(WORK, "again.json")
    generate(again)
    with open(SBOM_PATH, "rb") as a, open(again, "rb") as b:
        et.eq(a.read(), b.read())
    other = generate(os.path.join(WORK, "other.json"), version="9.9.9")
    et.check(other["serialNumber"] != SBOM["serialNumber"], "another version, another serial number")


@suite.test
def valid_cyclonedx_and_broken_one_rejected():
    """valid against the published CycloneDX 1.6 JSON schema; a broken document is not"""
    bad = copy.deepcopy(SBOM)
    bad["components"][0]["licenses"] = [{"license": {"id": "NOT-AN-SPDX-ID"}}]
    bad["components"][1]["hashes"] = [{"alg": "SHA-256", "content": "xyz"}]
    bad_path = os.path.join(WORK, "bad.json")
    with open(bad_path, "w") as f:
        json.dump(bad, f)
    r = validate(SBOM_PATH)
    if r.returncode == 2 and "npm" in r.stderr:
        et.skip(f"no validator: {r.stderr.strip()[-300:]}")
    et.eq(r.returncode, 0, r.stdout + r.stderr)
    r = validate(bad_path)
    et.eq(r.returncode, 1, r.stdout + r.stderr)
    et.check("license/id" in r.stdout and "hashes/0/content" in r.stdout, r.stdout)


suite.run()
