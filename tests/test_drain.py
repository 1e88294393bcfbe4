#!/usr/bin/env python3
"""The end of a drain resets nobody: after DRAIN_DELAY evapi stops new
handshakes, accepts and answers (with Connection: close) what the kernel
had queued, then closes its listeners. 20 SIGTERMs under wrk -c200 and a
client opening new connections all the while: no connection is reset."""

import asyncio
import errno
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

from evapitest import Suite, Server, check, eq, skip

suite = Suite("drain")

CLOSE_REQ = b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


class Opener(threading.Thread):
    """Opens connections one after another, each with one closing request,
    and sorts how each ended."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.stop = threading.Event()
        self.counts = {"ok": 0, "refused": 0, "reset": 0, "unanswered": 0}

    def one(self):
        s = socket.socket()
        s.settimeout(2)
        try:
            s.connect(("127.0.0.1", self.port))
        except OSError as e:
            # After the listeners close: refused (a SYN answered by a
            # reset is not a connection); a dropped SYN times out.
            self.counts["refused"] += 1
            return
        try:
            s.sendall(CLOSE_REQ)
            data = b""
            while True:
                b = s.recv(4096)
                if not b:
                    break
                data += b
            self.counts["ok" if data.startswith(b"HTTP/1.1 ") else
                        "unanswered"] += 1
        except ConnectionResetError:
            self.counts["reset"] += 1
        except OSError as e:
            self.counts["reset" if e.errno in (errno.ECONNRESET, errno.EPIPE)
                        else "unanswered"] += 1
        finally:
            s.close()

    def run(self):
        while not self.stop.is_set():
            self.one()


class KeepAliveClients(threading.Thread):
    """N connections doing keep-alive requests back to back, as wrk does,
    but sorting how each connection ended: closed after an answer that
    said so (fine), refused at connect (fine: the listener is closed),
    reset or cut off mid-answer (the failure this test is about)."""

    def __init__(self, port, n):
        super().__init__(daemon=True)
        self.port, self.n = port, n
        self.done = threading.Event()
        self.counts = {"requests": 0, "closed": 0, "refused": 0, "reset": 0,
                       "cut": 0}

    async def client(self):
        req = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
        while not self.done.is_set():
            try:
                r, w = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                self.counts["refused"] += 1
                await asyncio.sleep(0.01)
                continue
            try:
                while not self.done.is_set():
                    w.write(req)
                    await w.drain()
                    head = await r.readuntil(b"\r\n\r\n")
                    n = int(re.search(rb"Content-Length: (\d+)", head).group(1))
                    await r.readexactly(n)
                    self.counts["requests"] += 1
                    if b"Connection: close" in head:
                        self.counts["closed"] += 1
                        break
            except (ConnectionResetError, BrokenPipeError):
                self.counts["reset"] += 1
            except (asyncio.IncompleteReadError, OSError):
                self.counts["cut"] += 1
            finally:
                w.close()

    async def main(self):
        await asyncio.gather(*(self.client() for _ in range(self.n)))

    def run(self):
        asyncio.run(self.main())


def wrk():
    w = shutil.which("wrk")
    if w is None:
        skip("wrk is not installed")
    return w


def socket_errors(out):
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), "
                  r"timeout (\d+)", out)
    return tuple(int(x) for x in m.groups()) if m else (0, 0, 0, 0)


@suite.test
def twenty_drains_no_reset():
    """20 SIGTERMs under wrk -c200, 200 keep-alive clients that sort how
    their connections end, and a client opening new connections all the
    while: exit 0 each time, no connection reset or cut mid-answer, none
    accepted and left unanswered, no read error in wrk"""
    w = wrk()
    wrapper = ["prlimit", "--nofile=4096:4096", "--"]
    totals = {"ok": 0, "refused": 0, "reset": 0, "unanswered": 0}
    ka_totals = {"requests": 0, "closed": 0, "refused": 0, "reset": 0, "cut": 0}
    wrk_errors = [0, 0, 0, 0]
    for i in range(20):
        srv = Server(suite, API_PLUGINS="health", WORKERS=2, LOG_LEVEL="warn",
                     DRAIN_DELAY=1, SHUTDOWN_TIMEOUT=5, wrapper=wrapper)
        srv.start()
        load = subprocess.Popen(wrapper + [w, "-t2", "-c200", "-d20s",
                                           f"http://127.0.0.1:{srv.port}/health"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        opener = Opener(srv.port)
        opener.start()
        clients = KeepAliveClients(srv.port, 200)
        clients.start()
        time.sleep(0.3)
        srv.signal(signal.SIGTERM)
        eq(srv.wait(timeout=8), 0, f"drain {i}: exit status")
        # A little after the close: new connections are refused now.
        time.sleep(0.2)
        opener.stop.set()
        clients.done.set()
        opener.join(5)
        clients.join(5)
        for k, v in clients.counts.items():
            ka_totals[k] += v
        load.send_signal(signal.SIGINT)  # wrk prints its totals on SIGINT
        out, _ = load.communicate(timeout=10)
        errs = socket_errors(out)
        for k in range(4):
            wrk_errors[k] += errs[k]
        for k, v in opener.counts.items():
            totals[k] += v
    # wrk counts a refused reconnection (after the close) as a write error:
    # only its read errors tell of a reset.
    print(f"# opener: {totals}; keep-alive clients: {ka_totals}; wrk socket "
          f"errors (connect, read, write, timeout): {wrk_errors}")
    check(totals["ok"] > 0 and ka_totals["closed"] > 0, "answered before")
    eq(totals["reset"], 0, "new connections reset")
    eq(totals["unanswered"], 0, "new connections accepted, closed unanswered")
    eq((ka_totals["reset"], ka_totals["cut"]), (0, 0),
       "keep-alive connections reset or cut mid-answer")
    eq(wrk_errors[1], 0, "wrk read errors")


if __name__ == "__main__":
    suite.run()
