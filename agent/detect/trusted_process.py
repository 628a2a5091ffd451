"""Whether a sign of a call comes from the softphone itself, run by this user (R2).

A detector hears of calls from something on the machine: a process listening on a control
port, a client of the sound server. Anything can pick a process name or claim to be baresip
in the properties it sets about itself, and any local user can bind a free port. So a source
is trusted only when the operating system itself says which process it is (the peer of a TCP
connection, as the kernel's socket table has it; a sound server's `pipewire.sec.pid`, taken
from the socket's credentials) and that process runs as this user from the configured
softphone's executable file, as `/proc/PID/exe` resolves it (on Windows and macOS, psutil's
equivalent).

psutil is imported when the first check runs: the hook command, which a softphone waits for,
never needs it.
"""

from __future__ import annotations

import getpass
import importlib
import os
import shutil
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_DELETED = " (deleted)"


def _psutil() -> Any:
    return importlib.import_module("psutil")


@dataclass(frozen=True, slots=True)
class Softphone:
    """The configured softphone's executable file, resolved (symbolic links followed)."""

    executable: Path

    @property
    def name(self) -> str:
        return self.executable.name

    @classmethod
    def from_setting(cls, setting: str) -> Softphone:
        """`setting` is a full path, or a program name looked up on PATH as the shell would.
        ValueError says what to set when neither finds a program."""
        found = setting if Path(setting).is_absolute() else shutil.which(setting)
        if found is None or not Path(found).is_file():
            raise ValueError(
                f"softphone_executable {setting!r} is not a program on PATH; set it to the"
                " softphone's full path (e.g. /usr/bin/baresip)"
            )
        return cls(Path(os.path.realpath(found)))

    def refusal(self, pid: int | None) -> str | None:
        """None when `pid` is this softphone run by this user; otherwise why it is not."""
        if pid is None:
            return "it belongs to a process this agent cannot see, i.e. another user's"
        psutil = _psutil()
        try:
            process = psutil.Process(pid)
            owner = _owner_problem(process)
            executable = process.exe()
        except psutil.NoSuchProcess:
            return f"its process {pid} has exited"
        except psutil.AccessDenied:
            return f"its process {pid} belongs to another user"
        if owner is not None:
            return f"its process {pid} {owner}"
        return self._executable_problem(pid, executable)

    def _executable_problem(self, pid: int, executable: str) -> str | None:
        if not executable:
            return f"the program of process {pid} cannot be read"
        if executable.endswith(_DELETED):
            return (
                f"process {pid} runs {executable[: -len(_DELETED)]}, which was replaced or"
                " removed since; restart the softphone"
            )
        if Path(os.path.realpath(executable)) != self.executable:
            return f"process {pid} runs {executable}, not the softphone {self.executable}"
        return None


def _owner_problem(process: Any) -> str | None:
    if sys.platform == "win32":
        owner = str(process.username())
        mine = getpass.getuser()
        # Windows names it DOMAIN\user; the domain is the machine's or the directory's.
        if owner.rsplit("\\", 1)[-1].casefold() != mine.casefold():
            return f"runs as {owner}, not as {mine}"
        return None
    uids = process.uids()
    if uids.real != os.getuid() or uids.effective != os.getuid():
        return f"runs as uid {uids.effective}, not as this user (uid {os.getuid()})"
    return None


def tcp_peer_pid(sock: socket.socket) -> int | None:
    """The process on the other end of a connected loopback TCP socket, as the kernel's socket
    table has it: the one holding the connection whose local address is our peer and whose
    remote address is us or, before that process has accepted it, the one holding the socket
    listening there. None when the table names no process this agent may see."""
    ours = tuple(sock.getsockname()[:2])
    theirs = tuple(sock.getpeername()[:2])
    listener = None
    for entry in _tcp_sockets():
        if entry.local == theirs and entry.remote == ours and entry.pid is not None:
            return entry.pid
        if (
            entry.listening
            and entry.local[1] == theirs[1]
            and entry.local[0]
            in (
                theirs[0],
                *_ANY_ADDRESS,
            )
        ):
            listener = entry.pid
    return listener


_ANY_ADDRESS = ("0.0.0.0", "::")  # noqa: S104 - matched against, never bound


@dataclass(frozen=True, slots=True)
class _TcpSocket:
    local: tuple[object, ...]
    remote: tuple[object, ...]
    listening: bool
    pid: int | None


def _tcp_sockets() -> list[_TcpSocket]:
    """Every TCP socket this agent may see, with the process holding it where known."""
    psutil = _psutil()

    def entry(connection: Any, pid: int | None) -> _TcpSocket:
        remote = tuple(connection.raddr)[:2] if connection.raddr else ()
        listening = connection.status == psutil.CONN_LISTEN
        return _TcpSocket(tuple(connection.laddr)[:2], remote, listening, pid)

    try:
        return [entry(c, c.pid) for c in psutil.net_connections(kind="tcp")]
    except psutil.AccessDenied:
        pass
    # macOS lists other processes' sockets only to root: look at this user's own processes.
    found = []
    for process in psutil.process_iter():
        try:
            connections = process.net_connections(kind="tcp")
        except (psutil.AccessDenied, psutil.NoSuchProcess):
            continue
        found += [entry(c, process.pid) for c in connections]
    return found
