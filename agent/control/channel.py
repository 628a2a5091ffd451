"""The running agent's local control channel: one socket per user, JSON requests and answers.

The softphone's hook command and `callreel-agent pause|resume|status` talk to the agent here.
Transport is `multiprocessing.connection` (an AF_UNIX socket `agent.sock` in the runtime
directory; on Windows the named pipe `\\\\.\\pipe\\callreel-agent-<user>`), authenticated with
its HMAC challenge against a random key in `control.key` (mode 0600, directory 0700) that the
server writes at every start: only processes that can read the user's runtime directory can
talk to the agent. Messages are JSON bytes through `send_bytes`/`recv_bytes`; `send`/`recv`
would unpickle, which runs code chosen by whoever is on the other end.

This module is imported by the hook command, which a softphone waits for: keep it to the
standard library.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import socket
import struct
import sys
import threading
from collections.abc import Callable
from multiprocessing import AuthenticationError
from multiprocessing.connection import (
    Client,
    Connection,
    Listener,
    answer_challenge,
    deliver_challenge,
)
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import logging


def _log() -> logging.Logger:
    """The module's logger; `logging` loads only when the server logs (the hook command,
    which a softphone waits for, never does)."""
    import logging  # noqa: PLC0415

    return logging.getLogger(__name__)


MAX_REQUEST_BYTES = 4096
MAX_RESPONSE_BYTES = 64 * 1024
SOCKET_NAME = "agent.sock"
KEY_NAME = "control.key"
CONNECTION_TIMEOUT = 2.0
"""A client that has not finished its request by then is dropped (its thread ends)."""
MAX_SOCKET_PATH = 107
"""Bytes in an AF_UNIX socket's path (sun_path holds 108, with the closing NUL)."""
MAX_CONNECTIONS = 16
"""Concurrent clients; more are refused at once, so stalled clients cannot pile up threads."""
START_HINT = "start it with `callreel-agent run`"

Handler = Callable[[dict[str, object]], dict[str, object]]


class ControlError(Exception):
    """The agent answered badly, or the channel failed mid-request."""


class ControlPathTooLongError(ControlError):
    """The socket's path is longer than the system allows (sun_path: 108 bytes)."""

    def __init__(self, address: str) -> None:
        super().__init__(
            f"the control socket's path {address} is {len(os.fsencode(address))} bytes, more"
            f" than the {MAX_SOCKET_PATH} a socket may have: give the agent a shorter runtime"
            " directory (--root or --runtime-dir, or a shorter XDG_RUNTIME_DIR)"
        )


class AgentNotRunningError(ControlError):
    def __init__(self, runtime_dir: Path, detail: str) -> None:
        super().__init__(f"the Callreel agent is not running ({detail}); {START_HINT}")
        self.runtime_dir = runtime_dir


def _is_windows() -> bool:
    return sys.platform == "win32"


def control_address(runtime_dir: Path) -> tuple[str, str]:
    """(address, multiprocessing family) of the control channel for this user."""
    if _is_windows():
        return rf"\\.\pipe\callreel-agent-{getpass.getuser()}", "AF_PIPE"
    return str(runtime_dir / SOCKET_NAME), "AF_UNIX"


def key_file(runtime_dir: Path) -> Path:
    return runtime_dir / KEY_NAME


def _set_socket_timeout(connection: Connection[Any, Any], seconds: float) -> None:
    """Make blocking reads and writes on a Unix-socket connection fail after `seconds`.

    `Connection` has no timeout of its own and the HMAC handshake reads without polling; the
    kernel's SO_RCVTIMEO bounds those reads. Named pipes have no equivalent: on Windows a
    stalled peer keeps only its own connection thread waiting.
    """
    if _is_windows():
        return
    whole = int(seconds)
    timeval = struct.pack("@ll", whole, int((seconds - whole) * 1_000_000))
    with socket.socket(fileno=os.dup(connection.fileno())) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)


def _encode(message: dict[str, object]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode()


def _error(text: str) -> dict[str, object]:
    return {"ok": False, "error": text}


def parse_request(data: bytes) -> dict[str, object] | str:
    """The request as a dict, or why it is not acceptable."""
    if len(data) > MAX_REQUEST_BYTES:
        return f"request larger than {MAX_REQUEST_BYTES} bytes"
    try:
        request = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        return f"request is not JSON: {exc}"
    except RecursionError:
        # A few thousand '[' fit in MAX_REQUEST_BYTES; the parser gives up on its nesting.
        return "request is not JSON this agent accepts: nested too deeply"
    if not isinstance(request, dict):
        return "request must be a JSON object"
    command = request.get("command")
    if not isinstance(command, str) or not command:
        return "request needs a string 'command'"
    return request


def _write_key(runtime_dir: Path) -> bytes:
    key = os.urandom(32)
    path = key_file(runtime_dir)
    temp = path.with_name(f".{KEY_NAME}.{os.getpid()}.partial")
    temp.unlink(missing_ok=True)
    # O_EXCL with mode 0600: the key is never readable by others, not even for a moment.
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(key.hex().encode())
        temp.replace(path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return key


def _read_key(runtime_dir: Path) -> bytes:
    try:
        text = key_file(runtime_dir).read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise AgentNotRunningError(runtime_dir, f"no {key_file(runtime_dir)}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ControlError(f"cannot read the agent's control key: {exc}") from exc
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise ControlError(f"{key_file(runtime_dir)} is corrupt") from None


def _prepare_runtime_dir(runtime_dir: Path) -> None:
    runtime_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not _is_windows():
        runtime_dir.chmod(0o700)


def _remove_stale_socket(address: str) -> None:
    """A socket file left by an agent that died would make bind() fail; a live one must stay."""
    if _is_windows() or not Path(address).exists():
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        try:
            probe.connect(address)
        except (ConnectionRefusedError, FileNotFoundError):
            Path(address).unlink(missing_ok=True)
            return
        except OSError as exc:
            raise ControlError(f"cannot check the control socket {address}: {exc}") from exc
    raise ControlError(f"another agent is already listening on {address}")


class ControlServer:
    """Accepts control requests on a thread and answers each with `handler`'s reply.

    `handler` runs on a connection thread and must return quickly (it only enqueues work).
    """

    def __init__(self, runtime_dir: Path, handler: Handler) -> None:
        self._runtime_dir = runtime_dir
        self._handler = handler
        self._address, self._family = control_address(runtime_dir)
        self._listener: Listener | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self._key = b""

    @property
    def address(self) -> str:
        return self._address

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("control server already started")
        if not _is_windows() and len(os.fsencode(self._address)) > MAX_SOCKET_PATH:
            raise ControlPathTooLongError(self._address)
        _prepare_runtime_dir(self._runtime_dir)
        _remove_stale_socket(self._address)
        self._key = _write_key(self._runtime_dir)
        # No authkey here: Listener.accept() would run the handshake on the accept thread,
        # where one silent client would block everyone. Connection threads do it instead.
        self._listener = Listener(self._address, self._family, backlog=MAX_CONNECTIONS)
        if not _is_windows():
            Path(self._address).chmod(0o600)
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._accept_loop, name="control-accept", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        thread, listener = self._thread, self._listener
        if thread is None or listener is None:
            return
        self._stopping.set()
        # accept() does not notice the listener closing; a connection of our own wakes it.
        with contextlib.suppress(OSError):
            Client(self._address, self._family).close()
        thread.join(timeout=2.0)
        listener.close()
        self._thread = self._listener = None
        key_file(self._runtime_dir).unlink(missing_ok=True)

    def _accept_loop(self) -> None:
        listener = self._listener
        if listener is None:
            return
        while not self._stopping.is_set():
            try:
                connection = listener.accept()
            except OSError as exc:
                if self._stopping.is_set():
                    return
                _log().warning("control channel: accept failed: %s", exc)
                continue
            if self._stopping.is_set():
                connection.close()
                return
            if not self._slots.acquire(blocking=False):
                _log().warning("control channel: too many clients, refusing one")
                connection.close()
                continue
            threading.Thread(
                target=self._serve, args=(connection,), name="control-conn", daemon=True
            ).start()

    def _serve(self, connection: Connection[Any, Any]) -> None:
        try:
            with connection:
                _set_socket_timeout(connection, CONNECTION_TIMEOUT)
                deliver_challenge(connection, self._key)
                answer_challenge(connection, self._key)
                connection.send_bytes(_encode(self._answer(connection)))
        except AuthenticationError:
            _log().warning("control channel: refused a client with the wrong key")
        except (OSError, EOFError) as exc:
            _log().info("control channel: client went away: %s", exc)
        finally:
            self._slots.release()

    def _answer(self, connection: Connection[Any, Any]) -> dict[str, object]:
        if not connection.poll(CONNECTION_TIMEOUT):
            return _error("no request within the time limit")
        try:
            data = connection.recv_bytes(MAX_REQUEST_BYTES)
        except OSError:
            # recv_bytes refuses an oversized message by its header, before reading it.
            return _error(f"request larger than {MAX_REQUEST_BYTES} bytes")
        request = parse_request(data)
        if isinstance(request, str):
            return _error(request)
        try:
            reply = self._handler(request)
            _encode(reply)
        except Exception as exc:  # noqa: BLE001 - a handler bug must not kill the channel
            _log().exception("control channel: handler failed on %r", request.get("command"))
            return _error(f"internal error: {type(exc).__name__}")
        return reply


def send_command(
    runtime_dir: Path, request: dict[str, object], timeout: float = 1.0
) -> dict[str, object]:
    """Send one request to the running agent and return its JSON answer."""
    data = _encode(request)
    if len(data) > MAX_REQUEST_BYTES:
        raise ControlError(f"request larger than {MAX_REQUEST_BYTES} bytes")
    key = _read_key(runtime_dir)
    address, family = control_address(runtime_dir)
    try:
        connection = Client(address, family)
    except (FileNotFoundError, ConnectionRefusedError) as exc:
        raise AgentNotRunningError(runtime_dir, f"nothing listens on {address}") from exc
    except OSError as exc:
        raise ControlError(f"cannot connect to the agent at {address}: {exc}") from exc
    try:
        with connection:
            _set_socket_timeout(connection, timeout)
            answer_challenge(connection, key)
            deliver_challenge(connection, key)
            connection.send_bytes(data)
            if not connection.poll(timeout):
                raise ControlError(f"the agent did not answer within {timeout:g} s")
            reply_bytes = connection.recv_bytes(MAX_RESPONSE_BYTES)
    except AuthenticationError as exc:
        raise ControlError(
            f"the agent refused the control key in {key_file(runtime_dir)} "
            "(is it from another agent instance?)"
        ) from exc
    except (OSError, EOFError) as exc:
        raise ControlError(f"the control channel failed: {exc or type(exc).__name__}") from exc
    try:
        reply = json.loads(reply_bytes)
    except (ValueError, RecursionError) as exc:
        raise ControlError(f"the agent's answer is not JSON: {exc!r}") from exc
    if not isinstance(reply, dict):
        raise ControlError("the agent's answer is not a JSON object")
    return reply
