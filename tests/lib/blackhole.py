"""Loopback listeners that never answer, for database-hang tests.

    with Mute() as m:       # accepts TCP connections, never sends a byte
        m.port
    with SynQueue() as s:   # never completes a handshake: SYNs are dropped
        s.port

Both stay on 127.0.0.1. SynQueue listens with a backlog of 0 and fills
its accept queue with its own connections, which it never accepts; the
kernel then drops further SYNs, so a client's connect() stays in progress
until the client gives up (like a firewall that drops packets).
"""

import select
import socket
import threading
import time


class Mute:
    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.conns = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._loop, daemon=True)
        self._t.start()

    def _loop(self):
        while not self._stop.is_set():
            try:
                c, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            # Held open, never read or written.
            self.conns.append(c)
            self.accepted += 1

    def close(self):
        self._stop.set()
        self._t.join(5)
        for c in self.conns:
            c.close()
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class SynQueue:
    def __init__(self, max_fill=64):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(0)
        self.port = self.sock.getsockname()[1]
        self.fillers = []
        self._fill(max_fill)

    def _fill(self, max_fill):
        """Connect until a handshake no longer completes."""
        for _ in range(max_fill):
            c = socket.socket()
            c.setblocking(False)
            c.connect_ex(("127.0.0.1", self.port))
            _, w, _ = select.select([], [c], [], 0.3)
            if w and c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                self.fillers.append(c)
                continue
            # This one is stuck in SYN_SENT: the queue is full.
            c.close()
            return
        raise RuntimeError("could not fill the accept queue")

    def verify(self, timeout=0.5):
        """True when a new connect really hangs for TIMEOUT seconds."""
        c = socket.socket()
        c.setblocking(False)
        try:
            c.connect_ex(("127.0.0.1", self.port))
            t0 = time.monotonic()
            _, w, _ = select.select([], [c], [], timeout)
            return not w and time.monotonic() - t0 >= timeout * 0.9
        finally:
            c.close()

    def close(self):
        for c in self.fillers:
            c.close()
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
