"""Pure tests stay pure: no network or local socket, no child process, no display or sound
server. What would reach one fails the test with the reason, rather than depending on a
convention; files and in-process SQLite are fine.

Three guards: the fixtures that start real components (tests/plugins/) are refused by name;
Python's sockets and process starts raise; DISPLAY, WAYLAND_DISPLAY and PULSE_SERVER are unset,
so the C libraries (libX11, libpulse) find nothing to talk to either.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Callable

import pytest

REAL_COMPONENT_FIXTURES = frozenset(
    {
        "x_display",
        "desktop",
        "pulse_server",
        "pipewire_server",
        "sound_server",
        "qapp",
        "qtbot",
        "tray_host",
        "postgres_server",
        "fresh_postgres_url",
        "ceph_rgw",
        "fresh_s3_bucket",
    }
)


class ImpureTestError(BaseException):
    """A unit test reached for a real component; it belongs in tests/integration/.

    A BaseException, so that code under test which catches Exception cannot swallow it."""


def _refuse(what: str) -> Callable[..., object]:
    def refused(*_args: object, **_kwargs: object) -> object:
        raise ImpureTestError(
            f"a unit test may not {what}; move the test to tests/integration/ (or keep the"
            " logic it tests apart from the I/O)"
        )

    return refused


def pytest_runtest_setup(item: pytest.Item) -> None:
    real = sorted(REAL_COMPONENT_FIXTURES & set(getattr(item, "fixturenames", ())))
    if real:
        raise ImpureTestError(
            f"{item.nodeid} asks for {', '.join(real)}: a unit test uses no real component;"
            " move it to tests/integration/"
        )


@pytest.fixture(autouse=True)
def _pure(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("DISPLAY", "WAYLAND_DISPLAY", "PULSE_SERVER"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(socket.socket, "connect", _refuse("connect a socket"))
    monkeypatch.setattr(socket.socket, "connect_ex", _refuse("connect a socket"))
    monkeypatch.setattr(socket.socket, "bind", _refuse("listen on a socket"))
    monkeypatch.setattr(socket, "create_connection", _refuse("open a network connection"))
    monkeypatch.setattr(subprocess.Popen, "_execute_child", _refuse("start a program"))
    for spawn in ("fork", "forkpty", "system", "posix_spawn", "posix_spawnp", "execv", "execve"):
        if hasattr(os, spawn):
            monkeypatch.setattr(os, spawn, _refuse("start a program"))
