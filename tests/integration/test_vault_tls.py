"""The vault's self-signed certificate: made once, reused, checked, pinned in real handshakes."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from protocol.pinned_tls import client_ssl_context
from vault.tls import (
    TlsFiles,
    ensure_certificate,
    server_ssl_context,
)


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[TlsFiles, int]]:
    """A tiny TLS server on 127.0.0.1 that answers b"ok" to every successful handshake."""
    files = ensure_certificate(tmp_path / "server")
    context = server_ssl_context(files)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(5)
                try:
                    with context.wrap_socket(connection, server_side=True) as tls:
                        tls.sendall(b"ok")
                except (ssl.SSLError, OSError):
                    pass  # the client refused our certificate: that is what some tests want

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield files, listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def _fetch(context: ssl.SSLContext, port: int, server_hostname: str) -> bytes:
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=server_hostname) as tls,
    ):
        return tls.recv(2)


@pytest.mark.parametrize("server_hostname", ["127.0.0.1", "localhost"])
def test_pinned_client_completes_a_real_handshake(
    tls_server: tuple[TlsFiles, int], server_hostname: str
) -> None:
    files, port = tls_server
    context = client_ssl_context(files.cert_path)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert _fetch(context, port, server_hostname) == b"ok"


def test_a_different_ca_fails_verification(
    tls_server: tuple[TlsFiles, int], tmp_path: Path
) -> None:
    _, port = tls_server
    other = ensure_certificate(tmp_path / "other")  # same names, different key
    with pytest.raises(ssl.SSLCertVerificationError, match=r"self.signed|unable to get"):
        _fetch(client_ssl_context(other.cert_path), port, "127.0.0.1")


def test_a_name_the_certificate_does_not_list_fails_verification(
    tls_server: tuple[TlsFiles, int],
) -> None:
    files, port = tls_server
    with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
        _fetch(client_ssl_context(files.cert_path), port, "vault.example")


def test_system_trust_store_does_not_accept_the_vault(tls_server: tuple[TlsFiles, int]) -> None:
    _, port = tls_server
    with pytest.raises(ssl.SSLCertVerificationError):
        _fetch(ssl.create_default_context(), port, "localhost")
