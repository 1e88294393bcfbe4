"""Helpers for tests/test_hardening.py: raw requests, held connections,
slow clients, a descriptor limit for the server, and /proc figures.

Standard library only, like evapitest.py.
"""

import os
import socket
import sys
import time

from evapitest import parse_response


def responses(data):
    """Every complete HTTP response in DATA, in order."""
    out = []
    rest = data
    while rest.startswith(b"HTTP/"):
        try:
            r, rest = parse_response(rest)
        except (ValueError, IndexError):
            break
        out.append(r)
    return out


def exchange(port, payload, timeout=1.0, pause=None):
    """Send PAYLOAD (bytes, or a list of bytes sent PAUSE seconds apart)
    and read until the server closes or TIMEOUT passes.

    Returns (bytes received, closed by the server?)."""
    parts = payload if isinstance(payload, list) else [payload]
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        for i, p in enumerate(parts):
            if i and pause:
                time.sleep(pause)
            try:
                s.sendall(p)
            except (BrokenPipeError, ConnectionResetError):
                break
        return read_until_close(s, timeout)


def read_until_close(s, timeout):
    data = b""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return data, False
        s.settimeout(left)
        try:
            b = s.recv(65536)
        except socket.timeout:
            return data, False
        except ConnectionResetError:
            return data, True
        if not b:
            return data, True
        data += b


def connect_many(port, n, payload=b"", timeout=2.0):
    """N open connections, each having sent PAYLOAD; the caller closes
    them (close_all). Connections the kernel refuses are left out."""
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.settimeout(timeout)
        try:
            s.connect(("127.0.0.1", port))
            if payload:
                s.sendall(payload)
        except OSError:
            s.close()
            continue
        socks.append(s)
    return socks


def close_all(socks):
    for s in socks:
        try:
            s.close()
        except OSError:
            pass


def alive(s):
    """Whether the server still holds connection S open (no EOF, no RST)."""
    s.setblocking(False)
    try:
        b = s.recv(1, socket.MSG_PEEK)
        return b != b""
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        s.setblocking(True)


def cpu_seconds(pid):
    """utime + stime of PID, in seconds (/proc/PID/stat fields 14, 15)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def cpu_share(pid, seconds):
    """Share of one CPU PID used over the next SECONDS."""
    c0, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return (cpu_seconds(pid) - c0) / (time.monotonic() - t0)


def nofile_wrapper(n):
    """A Server wrapper that runs evapi with RLIMIT_NOFILE = N (what
    `ulimit -n N` does), through the same python: exec keeps the PID."""
    code = ("import os, resource, sys; "
            f"resource.setrlimit(resource.RLIMIT_NOFILE, ({n}, {n})); "
            "os.execv(sys.argv[1], sys.argv[1:])")
    return [sys.executable, "-c", code]


def sanitized(binary):
    """Whether BINARY is built with AddressSanitizer: its allocator keeps
    freed memory in quarantine, so RSS says nothing there (leaks are its
    own report's business)."""
    with open(binary, "rb") as f:
        data = f.read()
    return b"__asan_init" in data or b"libasan.so" in data


def wait_for(cond, timeout, step=0.05):
    """Poll COND until it is true or TIMEOUT passes; returns its value."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(step)
