"""A real headless X11 desktop: Xvfb on a free display number, managed by openbox."""

from __future__ import annotations

import contextlib
import os
import random
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from Xlib import X
from Xlib.display import Display

from agent.capture.geometry import Rect
from testbed.programs import TestbedError, require_program, stop_process_group, tail
from testbed.waiting import wait_for

SCREEN_WIDTH, SCREEN_HEIGHT = 1280, 800
_START_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class XServer:
    display: str
    """The DISPLAY value, e.g. `:3`."""
    screen: Rect


def _start_xvfb(
    log: Path, width: int = SCREEN_WIDTH, height: int = SCREEN_HEIGHT
) -> tuple[subprocess.Popen[bytes], str]:
    """Xvfb on a random, currently unlocked high display number.

    Low numbers (:0, :99) are what other sessions and tools pick by hand; a server that
    someone else replaces or tears down under us would fail tests at random.
    """
    xvfb = require_program("Xvfb")
    for _ in range(20):
        number = random.randrange(200, 60000)
        if Path(f"/tmp/.X{number}-lock").exists():  # noqa: S108 - the X server's own lock path
            continue
        process, ready = _try_xvfb(xvfb, number, log, width, height)
        if ready:
            return process, f":{number}"
        stop_process_group(process)
    raise TestbedError(f"Xvfb did not start: {tail(log, 2000)}")


def _try_xvfb(
    xvfb: str, number: int, log: Path, width: int, height: int
) -> tuple[subprocess.Popen[bytes], bool]:
    """Start Xvfb on `number`; ready once its socket accepts a connection.

    Not `-displayfd`: Xvfb writes that fd again later in its life and dies if the pipe is
    closed by then ("Cannot write display number to fd").
    """
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [
                xvfb,
                f":{number}",
                "-screen",
                "0",
                f"{width}x{height}x24",
                "-nolisten",
                "tcp",
                # Keep one server generation for the whole session, whoever disconnects.
                "-noreset",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=log_file,
            start_new_session=True,
        )
    socket_path = Path(f"/tmp/.X11-unix/X{number}")  # noqa: S108 - the X server's own socket
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        # A plain socket, not python-xlib: its failed connections leak sockets.
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            try:
                probe.connect(str(socket_path))
            except OSError:
                time.sleep(0.02)
                continue
        return process, True
    return process, False


def _wait_for_window_manager(display_name: str, openbox: subprocess.Popen[bytes]) -> None:
    display = Display(display_name)
    try:
        root = display.screen().root
        check = display.intern_atom("_NET_SUPPORTING_WM_CHECK")

        def managed() -> bool:
            if openbox.poll() is not None:
                raise TestbedError(f"openbox exited with status {openbox.returncode}")
            return root.get_full_property(check, X.AnyPropertyType) is not None

        wait_for(managed, what="openbox to set _NET_SUPPORTING_WM_CHECK", timeout=_START_TIMEOUT)
    finally:
        display.close()


@contextlib.contextmanager
def running_x_server(
    home: Path, *, width: int = SCREEN_WIDTH, height: int = SCREEN_HEIGHT
) -> Iterator[XServer]:
    """Xvfb on a free display number, managed by openbox, stopped on exit.

    It does not touch `DISPLAY`. `home` receives the Xvfb log and openbox's XDG directories. A
    missing program or a server that does not start raises TestbedError with the reason.
    """
    require_program("openbox")
    xvfb, display_name = _start_xvfb(home / "xvfb.log", width, height)
    openbox: subprocess.Popen[bytes] | None = None
    try:
        environment = {
            **os.environ,
            "DISPLAY": display_name,
            "XDG_CONFIG_HOME": str(home / "config"),
            "XDG_CACHE_HOME": str(home / "cache"),
        }
        openbox = subprocess.Popen(
            [require_program("openbox"), "--sm-disable"],
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        _wait_for_window_manager(display_name, openbox)
        yield XServer(display_name, Rect(0, 0, width, height))
    finally:
        if openbox is not None:
            stop_process_group(openbox)
        stop_process_group(xvfb)
