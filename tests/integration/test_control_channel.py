"""The agent's control channel, over a real Unix socket with the real handshake."""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from multiprocessing.connection import Client, answer_challenge, deliver_challenge
from pathlib import Path

import pytest

from agent.control.channel import (
    MAX_REQUEST_BYTES,
    AgentNotRunningError,
    ControlError,
    ControlPathTooLongError,
    ControlServer,
    control_address,
    key_file,
    send_command,
)

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="Unix socket paths and modes")


@pytest.fixture
def runtime_dir() -> Iterator[Path]:
    # AF_UNIX paths are limited to ~100 bytes; pytest's tmp_path can be longer.
    base = Path(tempfile.mkdtemp(prefix="crc-", dir="/tmp"))
    try:
        yield base / "run"
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def server(runtime_dir: Path) -> Iterator[tuple[ControlServer, list[dict[str, object]]]]:
    received: list[dict[str, object]] = []

    def handler(request: dict[str, object]) -> dict[str, object]:
        received.append(request)
        if request["command"] == "boom":
            raise RuntimeError("handler bug")
        return {"ok": True, "echo": request["command"]}

    control = ControlServer(runtime_dir, handler)
    control.start()
    try:
        yield control, received
    finally:
        control.stop()


def test_round_trip(
    server: tuple[ControlServer, list[dict[str, object]]], runtime_dir: Path
) -> None:
    _, received = server
    reply = send_command(runtime_dir, {"command": "status", "extra": [1, "two"]})
    assert reply == {"ok": True, "echo": "status"}
    assert received == [{"command": "status", "extra": [1, "two"]}]


def test_modes(server: tuple[ControlServer, list[dict[str, object]]], runtime_dir: Path) -> None:
    assert stat.S_IMODE(runtime_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(key_file(runtime_dir).stat().st_mode) == 0o600
    address, _ = control_address(runtime_dir)
    assert stat.S_IMODE(Path(address).stat().st_mode) == 0o600


def test_existing_lax_runtime_dir_is_tightened(runtime_dir: Path) -> None:
    runtime_dir.mkdir(parents=True, mode=0o755)
    runtime_dir.chmod(0o755)
    control = ControlServer(runtime_dir, lambda request: {"ok": True})
    control.start()
    try:
        assert stat.S_IMODE(runtime_dir.stat().st_mode) == 0o700
    finally:
        control.stop()
    assert not key_file(runtime_dir).exists()


def _raw_request(runtime_dir: Path, payload: bytes) -> dict[str, object]:
    """Send arbitrary bytes after a correct handshake, bypassing send_command's checks."""
    key = bytes.fromhex(key_file(runtime_dir).read_text())
    address, family = control_address(runtime_dir)
    with Client(address, family) as connection:
        answer_challenge(connection, key)
        deliver_challenge(connection, key)
        connection.send_bytes(payload)
        reply = json.loads(connection.recv_bytes())
    assert isinstance(reply, dict)
    return reply


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (b"not json", "request is not JSON"),
        (b"\xff\xfe", "request is not JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b"{}", "string 'command'"),
        (b'{"command": 3}', "string 'command'"),
        (b'{"command": ""}', "string 'command'"),
        (json.dumps({"command": "x", "pad": "a" * MAX_REQUEST_BYTES}).encode(), "larger than 4096"),
        (b'{"command": "boom"}', "internal error: RuntimeError"),
        (b"[" * 4000, "nested too deeply"),
        (b'{"command": "status", "args": ' + b"[" * 4000, "nested too deeply"),
    ],
)
@pytest.mark.logs_errors(r"control channel: handler failed on 'boom'")
def test_bad_requests_get_an_error_answer(
    server: tuple[ControlServer, list[dict[str, object]]],
    runtime_dir: Path,
    payload: bytes,
    error: str,
) -> None:
    reply = _raw_request(runtime_dir, payload)
    assert reply["ok"] is False
    assert error in str(reply["error"])
    # The server keeps serving after bad input.
    assert send_command(runtime_dir, {"command": "status"})["ok"] is True


def test_pickles_are_never_unpickled(
    server: tuple[ControlServer, list[dict[str, object]]], runtime_dir: Path, tmp_path: Path
) -> None:
    import pickle

    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, (f"touch {tmp_path}/pwned",))

    reply = _raw_request(runtime_dir, pickle.dumps(Evil()))
    assert reply["ok"] is False
    assert not (tmp_path / "pwned").exists()


def test_wrong_authkey_is_refused(
    server: tuple[ControlServer, list[dict[str, object]]], runtime_dir: Path
) -> None:
    _, received = server
    key_file(runtime_dir).write_text(os.urandom(32).hex())
    with pytest.raises(ControlError, match="refused the control key"):
        send_command(runtime_dir, {"command": "status"})
    assert received == []


def test_oversized_request_is_refused_locally(runtime_dir: Path) -> None:
    with pytest.raises(ControlError, match="larger than"):
        send_command(runtime_dir, {"command": "x", "pad": "a" * MAX_REQUEST_BYTES})


def test_agent_not_running(runtime_dir: Path) -> None:
    with pytest.raises(AgentNotRunningError, match=r"not running.*callreel-agent run"):
        send_command(runtime_dir, {"command": "status"})


def test_agent_not_running_after_stop_and_stale_socket(runtime_dir: Path) -> None:
    control = ControlServer(runtime_dir, lambda request: {"ok": True})
    control.start()
    control.stop()
    with pytest.raises(AgentNotRunningError, match="callreel-agent run"):
        send_command(runtime_dir, {"command": "status"})
    # A socket left behind by an agent that crashed does not stop the next one.
    address, _ = control_address(runtime_dir)
    Path(address).touch()
    restarted = ControlServer(runtime_dir, lambda request: {"ok": True, "again": True})
    restarted.start()
    try:
        assert send_command(runtime_dir, {"command": "status"})["again"] is True
        second = ControlServer(runtime_dir, lambda request: {"ok": True})
        with pytest.raises(ControlError, match="another agent"):
            second.start()
    finally:
        restarted.stop()


def test_stalled_client_does_not_block_others(
    server: tuple[ControlServer, list[dict[str, object]]], runtime_dir: Path
) -> None:
    address, family = control_address(runtime_dir)
    with Client(address, family):
        # Connected but silent: the handshake waits on its own thread.
        started = time.monotonic()
        assert send_command(runtime_dir, {"command": "status"})["ok"] is True
        assert time.monotonic() - started < 0.5


def test_stop_returns_quickly(runtime_dir: Path) -> None:
    control = ControlServer(runtime_dir, lambda request: {"ok": True})
    control.start()
    stopper = threading.Thread(target=control.stop)
    started = time.monotonic()
    stopper.start()
    stopper.join(timeout=3)
    assert not stopper.is_alive()
    assert time.monotonic() - started < 1.0


def test_a_runtime_dir_too_long_for_a_socket_is_refused_with_the_fix(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    server = ControlServer(deep, lambda request: request)
    with pytest.raises(ControlPathTooLongError, match="shorter runtime directory"):
        server.start()
    assert not deep.exists()  # refused before anything was made
