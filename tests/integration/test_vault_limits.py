"""What an unauthenticated client can hold of a real `callreel-vault serve` over HTTPS:
large unsigned bodies, slow headers and bodies, huge header blocks, many connections.

Each test talks to the vault over raw TLS sockets, because an HTTP client library would not
send what an attacker sends (a body it will never finish, headers a byte a second).
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from protocol.pinned_tls import client_ssl_context
from testbed.process_memory import peak_rss_mb
from tests.helpers.agent_harness import VaultProcess

MIB = 1024 * 1024
SEGMENT_TARGET = "/api/v1/agent/segments/" + "ab" * 32


@pytest.fixture
def vault(tmp_path: Path) -> Iterator[VaultProcess]:
    process = VaultProcess(tmp_path / "vault")
    process.start()
    try:
        yield process
    finally:
        process.stop()


def _connect(vault: VaultProcess, timeout: float = 30) -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", vault.port), timeout=timeout)
    return client_ssl_context(vault.ca).wrap_socket(raw, server_hostname="127.0.0.1")


def _head(method: str, target: str, *headers: str) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", *headers, "", ""]
    return "\r\n".join(lines).encode()


def _status(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1.1 "), answer[:200]
    return int(answer.split(b" ", 2)[1])


def _read_answer(connection: ssl.SSLSocket) -> bytes:
    """What the vault sent before it closed the connection or went quiet."""
    received = b""
    with contextlib.suppress(TimeoutError, ConnectionError, ssl.SSLError):
        while chunk := connection.recv(65536):
            received += chunk
    return received


def _closed_by_vault(connection: ssl.SSLSocket, within_s: float) -> tuple[bool, bytes]:
    """Whether the vault closed the connection within `within_s`, and what it said first."""
    connection.settimeout(within_s)
    received = b""
    try:
        while chunk := connection.recv(65536):
            received += chunk
    except TimeoutError:
        return False, received
    except (ConnectionError, ssl.SSLError):
        pass
    return True, received


def _unsigned_upload(vault: VaultProcess, size: int, answers: list[int]) -> None:
    """PUT `size` bytes without device headers, as fast as the vault takes them."""
    with _connect(vault) as connection:
        connection.sendall(_head("PUT", SEGMENT_TARGET, f"Content-Length: {size}"))
        chunk = b"\0" * MIB
        with contextlib.suppress(ConnectionError, ssl.SSLError, TimeoutError):
            for _ in range(size // MIB):
                connection.sendall(chunk)
        answer = _read_answer(connection)
        answers.append(_status(answer) if answer else 0)


def test_unsigned_uploads_are_refused_before_their_bodies_are_read(vault: VaultProcess) -> None:
    assert vault.process is not None
    before = peak_rss_mb(vault.process.pid)

    with _connect(vault) as connection:
        connection.sendall(_head("PUT", SEGMENT_TARGET, f"Content-Length: {60 * MIB}"))
        connection.sendall(b"\0" * MIB)
        closed, answer = _closed_by_vault(connection, within_s=10)
    assert answer, "the vault waited for the rest of an unsigned 60 MiB body"
    assert _status(answer) == 401
    assert b"Callreel-Device" in answer, "the refusal names the missing signature"
    assert closed, "the connection stays open for the unread body"

    answers: list[int] = []
    uploads = [
        threading.Thread(target=_unsigned_upload, args=(vault, 60 * MIB, answers)) for _ in range(4)
    ]
    for upload in uploads:
        upload.start()
    for upload in uploads:
        upload.join(120)
    assert answers == [401] * 4
    growth = peak_rss_mb(vault.process.pid) - before
    assert growth < 50, f"four unsigned 60 MiB uploads grew the vault by {growth:.0f} MiB"


def test_a_declared_body_over_the_limit_is_refused_unread(vault: VaultProcess) -> None:
    with _connect(vault) as connection:
        connection.sendall(_head("POST", "/api/v1/login", f"Content-Length: {60 * MIB}"))
        closed, answer = _closed_by_vault(connection, within_s=10)
    assert _status(answer) == 413
    assert closed


def _trickle(vault: VaultProcess, prefix: bytes, results: list[tuple[bool, float]]) -> None:
    """Send `prefix`, then a byte a second; note whether and when the vault hung up."""
    started = time.monotonic()
    with _connect(vault, timeout=5) as connection:
        connection.sendall(prefix)
        connection.settimeout(1.0)
        try:
            for _ in range(40):
                connection.sendall(b"x")
                try:
                    if connection.recv(65536) == b"":
                        break
                except TimeoutError:
                    continue
                break  # an answer: the vault gave up on this request
            else:
                results.append((False, time.monotonic() - started))
                return
        except (ConnectionError, ssl.SSLError):
            pass
        results.append((True, time.monotonic() - started))


def test_slow_headers_and_slow_bodies_are_dropped(vault: VaultProcess) -> None:
    """Ten connections trickling a body and ten trickling headers, a byte every second or
    so: each is closed soon after the header timeout (10 s) or the body grace (10 s)."""
    body_prefix = _head("POST", "/api/v1/login", "Content-Type: application/json",
                        "Content-Length: 100")  # fmt: skip
    header_prefix = b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    results: list[tuple[bool, float]] = []
    clients = [
        threading.Thread(target=_trickle, args=(vault, prefix, results))
        for prefix in [body_prefix] * 10 + [header_prefix] * 10
    ]
    for client in clients:
        client.start()
    for client in clients:
        client.join(300)
    assert len(results) == 20
    held = [seconds for dropped, seconds in results if not dropped]
    assert not held, f"{len(held)} slow connections were never dropped"
    assert max(seconds for _, seconds in results) < 30


def test_huge_header_blocks_are_refused(vault: VaultProcess) -> None:
    for headers in (["X-Big: " + "a" * MIB], [f"X-H{n}: v" for n in range(20_000)]):
        with _connect(vault) as connection:
            connection.sendall(_head("GET", "/api/v1/health", *headers))
            answer = _read_answer(connection)
        assert answer, "the vault dropped the request without an answer"
        assert _status(answer) in (400, 431), answer[:200]
    with _connect(vault) as connection:
        connection.sendall(_head("GET", "/api/v1/health", *[f"X-H{n}: v" for n in range(150)]))
        answer = _read_answer(connection)
    assert _status(answer) == 431
    assert b"at most 100" in answer


def test_connections_beyond_the_limit_are_turned_away_and_the_vault_recovers(
    tmp_path: Path,
) -> None:
    vault = VaultProcess(tmp_path / "vault", serve_options=("--max-connections", "20"))
    vault.start()
    try:
        idle = [_connect(vault, timeout=5) for _ in range(25)]
        try:
            with _connect(vault) as connection:
                connection.sendall(_head("GET", "/api/v1/health", "Connection: close"))
                assert _status(_read_answer(connection)) == 503
        finally:
            for connection in idle:
                connection.close()
        deadline = time.monotonic() + 10
        while True:
            with _connect(vault) as connection:
                connection.sendall(_head("GET", "/api/v1/health", "Connection: close"))
                status = _status(_read_answer(connection))
            if status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert status == 200
    finally:
        vault.stop()
