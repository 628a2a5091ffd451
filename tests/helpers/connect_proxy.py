"""A small HTTP CONNECT proxy on 127.0.0.1, as a corporate proxy tunnels HTTPS: it answers
`CONNECT host:port`, then copies bytes both ways without looking at them. It notes every
tunnel it opened, and can send every tunnel somewhere else (a proxy that leads to an impostor).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

_MAX_REQUEST_HEAD = 8192


@dataclass
class ConnectProxy:
    redirect_to: tuple[str, int] | None = None
    """Where every tunnel really goes; None: where the client asked."""
    tunnels: list[str] = field(default_factory=list)
    """The `host:port` of each CONNECT, in order."""
    port: int = 0
    _listener: socket.socket | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def asked_for(self) -> list[str]:
        with self._lock:
            return list(self.tunnels)

    def serve(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed: the proxy stops
            threading.Thread(target=self._tunnel, args=(client,), daemon=True).start()

    def _tunnel(self, client: socket.socket) -> None:
        with client:
            client.settimeout(30)
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = client.recv(1024)
                if not chunk or len(head) > _MAX_REQUEST_HEAD:
                    return
                head += chunk
            method, target, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
            if method != "CONNECT":
                client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                return
            with self._lock:
                self.tunnels.append(target)
            host, port = target.rsplit(":", 1)
            try:
                upstream = socket.create_connection(self.redirect_to or (host, int(port)), 10)
            except OSError:
                client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                return
            with upstream:
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                client.settimeout(None)
                back = threading.Thread(target=_copy, args=(upstream, client), daemon=True)
                back.start()
                _copy(client, upstream)
                back.join(30)


def _copy(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


@contextlib.contextmanager
def connect_proxy(redirect_to: tuple[str, int] | None = None) -> Iterator[ConnectProxy]:
    proxy = ConnectProxy(redirect_to=redirect_to)
    listener = socket.create_server(("127.0.0.1", 0))
    proxy.port = listener.getsockname()[1]
    thread = threading.Thread(target=proxy.serve, args=(listener,), daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() under way
        listener.close()
        thread.join(10)
