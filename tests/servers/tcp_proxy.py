"""A small local TCP proxy that passes, delays or black-holes traffic, to test deadlines.

``tcp_proxy_factory(target_port)`` starts a :class:`TcpProxy` on a free 127.0.0.1 port forwarding to
``127.0.0.1:target_port``. Its ``mode`` can change at any time:

* ``"pass"``: forward both ways;
* ``"delay"``: forward, but hold each chunk from the server for ``delay_s`` first (a slow server);
* ``"blackhole"``: accept connections and read requests, but never forward or answer.

Everything runs on daemon threads in the test process; ``close()`` stops the listener and every
connection. No process is started.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

__all__ = ["TcpProxy", "tcp_proxy_factory"]


class TcpProxy:
    """A threaded TCP proxy on 127.0.0.1.

    Args:
        target_port: Port on 127.0.0.1 to forward to.
        mode: ``"pass"``, ``"delay"`` or ``"blackhole"``.
        delay_s: Delay per server chunk in ``"delay"`` mode.
    """

    def __init__(self, target_port: int, mode: str = "pass", delay_s: float = 0.0) -> None:
        self.target_port = target_port
        self.mode = mode
        self.delay_s = delay_s
        self.connections = 0
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port: int = self._listener.getsockname()[1]
        self._closed = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept_loop, daemon=True, name="tcp-proxy").start()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            self._track(client)
            threading.Thread(target=self._handle, args=(client,), daemon=True).start()

    def _handle(self, client: socket.socket) -> None:
        if self.mode == "blackhole":
            with contextlib.suppress(OSError):
                while not self._closed.is_set() and client.recv(65536):
                    pass
            return
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        self._track(upstream)
        threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
        self._pump(upstream, client, True)

    def _pump(self, source: socket.socket, sink: socket.socket, from_server: bool) -> None:
        try:
            while not self._closed.is_set():
                data = source.recv(65536)
                if not data:
                    break
                if from_server and self.mode == "delay" and self.delay_s > 0:
                    time.sleep(self.delay_s)
                if self.mode == "blackhole":
                    continue
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        """Stop listening and close every connection."""
        self._closed.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()


@pytest.fixture
def tcp_proxy_factory() -> Iterator[Callable[..., TcpProxy]]:
    """Start proxies with ``tcp_proxy_factory(target_port, mode="pass", delay_s=0.0)``."""
    proxies: list[TcpProxy] = []

    def start(target_port: int, mode: str = "pass", delay_s: float = 0.0) -> TcpProxy:
        proxy = TcpProxy(target_port, mode=mode, delay_s=delay_s)
        proxies.append(proxy)
        return proxy

    yield start
    for proxy in proxies:
        proxy.close()
