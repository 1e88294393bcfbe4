"""Build the fixture plugins (tests/fixtures/*.c) as real .so files."""

import os
import shlex
import subprocess
import tempfile

SRC = os.path.join(os.environ.get("top_srcdir", "."), "tests", "fixtures")
INCLUDE = os.path.join(os.environ.get("top_srcdir", "."), "include")


def cc():
    return shlex.split(os.environ.get("EVAPI_CC") or "cc")


def pkg_flags(*pkgs):
    out = subprocess.run(["pkg-config", "--cflags", "--libs", *pkgs],
                         capture_output=True, text=True, check=True)
    return shlex.split(out.stdout)


def build(src, out, defines=(), cflags=None, libs=()):
    """Compile SRC (a file in tests/fixtures) to the shared object OUT."""
    cmd = cc() + ["-shared", "-fPIC", "-Wall", "-Wextra", "-Werror",
                  "-o", out, os.path.join(SRC, src)]
    cmd += cflags if cflags is not None else ["-I", INCLUDE]
    cmd += [f"-D{d}" for d in defines]
    cmd += list(libs)
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"fixture build failed: {' '.join(cmd)}\n{r.stderr}")
    os.chmod(out, 0o644)
    return out


def plugin_dir(suite=None):
    """A fresh directory with the permissions the loader demands."""
    d = tempfile.mkdtemp(prefix="evapi-plugins-")
    os.chmod(d, 0o755)
    if suite is not None:
        import shutil
        suite.cleanups.append(lambda: shutil.rmtree(d, ignore_errors=True))
    return d


def copy_builtins(dst):
    """Copy the build's own plugins next to fixtures."""
    import shutil
    src = os.environ["EVAPI_PLUGIN_DIR"]
    for f in os.listdir(src):
        if f.endswith(".so"):
            shutil.copy(os.path.join(src, f), os.path.join(dst, f))
            os.chmod(os.path.join(dst, f), 0o644)
