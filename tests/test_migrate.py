#!/usr/bin/env python3
"""evapi --migrate against a real PostgreSQL the test starts: migrations
applied once, twice in a row, from two processes at once (under the
advisory lock), a failing migration (exit 65, named, nothing recorded for
it), one that commits itself, nothing to migrate, a database that cannot
be reached (exit 69), a plugin with migrations but no database plugin
(exit 78); never a password in the output.
"""

import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))

import evapitest as et  # noqa: E402
import pgcluster  # noqa: E402
from fixtures import build, copy_builtins, plugin_dir  # noqa: E402

STATIC = os.environ.get("EVAPI_STATIC") == "yes"
suite = et.Suite("migrate")
CLUSTERS = []


def cluster():
    """A fresh cluster per case: each starts from an empty database."""
    p = pgcluster.for_suite(suite, et.skip)
    CLUSTERS.append(p)
    return p


def variants():
    """The dbtest fixture in its variants, each in its own directory."""
    if STATIC:
        et.elsewhere("the dbtest fixture plugin needs dlopen: the dynamic "
                     "suite runs it")
    out = {}
    for name, defines in (("good", ()), ("bad", ("BAD_MIGRATION",)),
                          ("commit", ("COMMIT_MIGRATION",)),
                          ("noneeds", ("NO_NEEDS",))):
        d = plugin_dir(suite)
        copy_builtins(d)
        build("dbtest.c", os.path.join(d, "dbtest.so"), defines=defines)
        out[name] = d
    return out


VARIANTS = None


def variant(name):
    global VARIANTS
    if VARIANTS is None:
        VARIANTS = variants()
    return VARIANTS[name]


def migrate(url, plugins, pdir=None, **over):
    env = dict(DATABASE_URL=url, API_PLUGINS=plugins, **over)
    if pdir:
        env["API_PLUGIN_DIR"] = pdir
    return et.run_evapi(["--migrate"], et.base_env(**env), timeout=60)


def recorded(p):
    return p.psql("SELECT plugin || ' ' || version FROM evapi_migrations "
                  "ORDER BY plugin, version").split()


@suite.test
def twice():
    """Applied once, then nothing to apply: both exit 0, one line per
    migration applied, the items table there"""
    p = cluster()
    r = migrate(p.url(), "health,items")
    et.eq(r.returncode, 0, r.stderr)
    et.eq(r.stdout.splitlines(), [
        "evapi: applied items 1 (create items)",
        "evapi: migrations done: 1 applied, 0 already applied"])
    et.eq(r.stderr, "")
    r = migrate(p.url(), "health,items")
    et.eq(r.returncode, 0, r.stderr)
    et.eq(r.stdout.splitlines(),
          ["evapi: migrations done: 0 applied, 1 already applied"])
    et.eq(p.psql("SELECT count(*) FROM items").strip(), "0")


@suite.test
def two_at_once():
    """Two processes at once: both exit 0 and each migration is applied
    exactly once (the advisory lock makes the second wait)"""
    p = cluster()
    env = et.base_env(DATABASE_URL=p.url(), API_PLUGINS="items")
    procs = [subprocess.Popen([et.evapi_bin(), "--migrate"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outs = [pr.communicate(timeout=60) for pr in procs]
    et.eq([pr.returncode for pr in procs], [0, 0], outs)
    applied = sum(o.count("evapi: applied items 1") for o, _ in outs)
    et.eq(applied, 1, outs)
    et.eq(recorded(p), ["items", "1"])


@suite.test
def failing_migration():
    """A migration that fails: exit 65, one line naming plugin, version,
    name and the server's SQLSTATE; the ones before it stay applied, it is
    not recorded"""
    p = cluster()
    r = migrate(p.url(), "dbtest", variant("bad"))
    et.eq(r.returncode, 65, r.stdout + r.stderr)
    et.check("migration dbtest 2 (a typo) failed: 42601" in r.stderr, r.stderr)
    et.eq(recorded(p), ["dbtest", "1"])
    r = migrate(p.url(), "dbtest", variant("good"))
    et.eq(r.returncode, 0, r.stderr)
    et.eq(recorded(p), ["dbtest", "1", "dbtest", "2"])


@suite.test
def commit_inside():
    """A migration that ends its transaction itself is refused (exit 65),
    not recorded"""
    p = cluster()
    r = migrate(p.url(), "dbtest", variant("commit"))
    et.eq(r.returncode, 65, r.stdout + r.stderr)
    et.check("ended its transaction itself" in r.stderr, r.stderr)
    et.eq(recorded(p), ["dbtest", "1"])


@suite.test
def nothing_to_do():
    """No plugin of API_PLUGINS carries migrations: exit 0, no database needed"""
    r = et.run_evapi(["--migrate"], et.base_env(API_PLUGINS="health,version"))
    et.eq(r.returncode, 0, r.stderr)
    et.check(r.stdout.startswith("evapi: nothing to migrate"), r.stdout)


@suite.test
def unreachable():
    """The database cannot be reached: exit 69, one clear line, no password"""
    url = f"postgresql://evapi:MigPw123@127.0.0.1:{et.free_port()}/db"
    r = migrate(url, "items", DB_CONNECT_TIMEOUT_MS="2000")
    et.eq(r.returncode, 69, r.stdout + r.stderr)
    et.check("cannot connect to the database (connection refused)" in r.stderr,
             r.stderr)
    et.check("MigPw123" not in r.stdout + r.stderr, r.stderr)


@suite.test
def no_database_plugin():
    """Migrations but no database plugin: exit 78 naming the plugin"""
    r = migrate("postgresql://x@127.0.0.1/db", "dbtest", variant("noneeds"))
    et.eq(r.returncode, 78, r.stdout + r.stderr)
    et.check('plugin "dbtest" carries migrations' in r.stderr, r.stderr)


if __name__ == "__main__":
    suite.run()
