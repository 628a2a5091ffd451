"""A real headless X11 desktop for tests: Xvfb + openbox, coloured windows, xterm.

The root conftest.py registers it as a plugin (`pytest_plugins`); tests ask for the
fixtures:

- `x_display` (session): an `XServer` running Xvfb on a free display number with openbox
  managing it; `DISPLAY` points at it for the whole session.
- `desktop` (per test): a `Desktop` that spawns windows and drives them (move, raise,
  minimise, unmap, close, kill); every process it started is killed at the end of the test.

`running_x_server` is the same Xvfb + openbox as a plain context manager, for the benchmarks
in bench/. `wait_for` polls a condition with a deadline instead of sleeping.

PYTEST_DONT_REWRITE: test modules import this module (for `wait_for` and the types) before
pytest registers it as a plugin, which pytest would otherwise warn about; its checks raise
their own messages and need no assertion rewriting.
"""

from __future__ import annotations

import contextlib
import os
import random
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar

import pytest
from Xlib import X
from Xlib import error as xerror
from Xlib.display import Display
from Xlib.xobject.drawable import Window

from agent.capture.geometry import Rect

SCREEN_WIDTH, SCREEN_HEIGHT = 1280, 800
REPO_ROOT = Path(__file__).resolve().parent.parent
_DEBIAN_PACKAGES = {
    "Xvfb": "xvfb",
    "openbox": "openbox",
    "xdotool": "xdotool",
    "wmctrl": "wmctrl",
    "xterm": "xterm",
}
_START_TIMEOUT = 10.0
_ICONIC_OR_NORMAL = (1, 3)

T = TypeVar("T")


def wait_for(
    condition: Callable[[], T | Literal[False] | None],
    *,
    what: str,
    timeout: float = 5.0,
    interval: float = 0.01,
) -> T:
    """Poll `condition` until it returns something truthy and return that; fail on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}; last {result!r}")
        time.sleep(interval)


def require_program(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} is not installed; install the Debian package "
            f"'{_DEBIAN_PACKAGES.get(name, name)}' (scripts/setup does it on CI)"
        )
    return path


def _stop_process_group(process: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    """SIGTERM the process's whole group, SIGKILL it if it lingers, and reap it."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            continue
        return


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
        _stop_process_group(process)
    pytest.fail(f"Xvfb did not start: {log.read_text(errors='replace')[-2000:]}")


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
                pytest.fail(f"openbox exited with status {openbox.returncode}")
            return root.get_full_property(check, X.AnyPropertyType) is not None

        wait_for(managed, what="openbox to set _NET_SUPPORTING_WM_CHECK", timeout=_START_TIMEOUT)
    finally:
        display.close()


@contextlib.contextmanager
def running_x_server(
    home: Path, *, width: int = SCREEN_WIDTH, height: int = SCREEN_HEIGHT
) -> Iterator[XServer]:
    """Xvfb on a free display number, managed by openbox, stopped on exit.

    Usable outside pytest (the benchmarks in bench/ use it); it does not touch `DISPLAY`.
    `home` receives the Xvfb log and openbox's XDG directories. A missing program or a server
    that does not start raises pytest's `Failed` with the reason, also outside pytest.
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
            _stop_process_group(openbox)
        _stop_process_group(xvfb)


@pytest.fixture(scope="session")
def x_display(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XServer]:
    """Xvfb on a free display number, managed by openbox; DISPLAY points at it meanwhile."""
    with (
        running_x_server(tmp_path_factory.mktemp("x-display")) as server,
        pytest.MonkeyPatch.context() as patch,
    ):
        patch.setenv("DISPLAY", server.display)
        yield server


@dataclass(slots=True)
class SpawnedWindow:
    """A test window and the process that owns it."""

    window_id: int
    process: subprocess.Popen[bytes]
    title: str


@dataclass
class Desktop:
    """Spawns and drives windows on `server`; `cleanup()` kills everything it started."""

    server: XServer
    _display: Display = field(init=False)
    _windows: list[SpawnedWindow] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self._display = Display(self.server.display)
        self._wm_state = self._display.intern_atom("WM_STATE")

    def spawn_colour_window(
        self,
        *,
        geometry: Rect,
        title: str,
        wm_class: str,
        colour: str = "ff00ff",
        instance: str = "colour_window",
        override_redirect: bool = False,
    ) -> SpawnedWindow:
        """A solid window whose client area sits exactly at `geometry`; returns once viewable."""
        command = [
            sys.executable,
            "-m",
            "tests.colour_window",
            "--colour",
            colour,
            "--geometry",
            f"{geometry.width}x{geometry.height}+{geometry.x}+{geometry.y}",
            "--title",
            title,
            "--class",
            wm_class,
            "--instance",
            instance,
        ]
        if override_redirect:
            command.append("--override-redirect")
        process = self._start(command)
        window_id = self._read_window_id(process)
        spawned = SpawnedWindow(window_id, process, title)
        self._windows.append(spawned)
        self._wait_until_shown(spawned, managed=not override_redirect)
        return spawned

    def spawn_xterm(self, *, title: str, x: int = 40, y: int = 40) -> SpawnedWindow:
        """An xterm (80x24 characters at x,y); it sets WM_NAME and _NET_WM_PID, not _NET_WM_NAME."""
        process = self._start(
            [
                require_program("xterm"),
                "-T",
                title,
                "-geometry",
                f"80x24+{x}+{y}",
                "-e",
                "sleep",
                "600",
            ]
        )
        window_id = wait_for(
            lambda: self._find_client(pid=process.pid, title=title),
            what=f"xterm {title!r} to appear",
            timeout=_START_TIMEOUT,
        )
        spawned = SpawnedWindow(window_id, process, title)
        self._windows.append(spawned)
        self._wait_until_shown(spawned, managed=True)
        return spawned

    def move(self, spawned: SpawnedWindow, x: int, y: int) -> tuple[int, int]:
        """Ask to put a colour window's client area (static gravity) at x,y; returns where it
        went. openbox keeps part of every window on screen, so far-off targets get clamped."""
        before = self.client_origin(spawned)
        self._window(spawned).configure(x=x, y=y)
        self._display.sync()
        return wait_for(
            lambda: (origin := self.client_origin(spawned)) != before and origin,
            what=f"window {spawned.title!r} to move towards {x},{y}",
        )

    def raise_window(self, spawned: SpawnedWindow) -> None:
        """Activate the window through the window manager, which raises its frame to the top."""
        self._xdotool("windowactivate", "--sync", spawned)
        wait_for(
            lambda: self.top_level_of(spawned) == self._topmost_viewable(),
            what=f"window {spawned.title!r} to be on top",
        )

    def minimise(self, spawned: SpawnedWindow) -> None:
        self._xdotool("windowminimize", "--sync", spawned)

    def unmap(self, spawned: SpawnedWindow) -> None:
        self._xdotool("windowunmap", "--sync", spawned)

    def close(self, spawned: SpawnedWindow) -> None:
        """Ask politely through the window manager (WM_DELETE_WINDOW) and wait for the exit."""
        subprocess.run(
            [require_program("wmctrl"), "-i", "-c", hex(spawned.window_id)],
            check=True,
            timeout=_START_TIMEOUT,
        )
        spawned.process.communicate(timeout=_START_TIMEOUT)

    def kill(self, spawned: SpawnedWindow) -> None:
        """Kill the owner at once: the X server destroys its windows without any goodbye."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(spawned.process.pid, signal.SIGKILL)
        spawned.process.communicate(timeout=_START_TIMEOUT)

    def client_origin(self, spawned: SpawnedWindow) -> tuple[int, int]:
        root = self._display.screen().root
        origin = root.translate_coords(spawned.window_id, 0, 0)
        return origin.x, origin.y

    def top_level_of(self, spawned: SpawnedWindow) -> int:
        """The root child holding the window: its openbox frame, or itself if unmanaged."""
        root_id = self._display.screen().root.id
        current = self._window(spawned)
        while (parent := current.query_tree().parent).id != root_id:
            current = parent
        return current.id

    def frame_rect(self, spawned: SpawnedWindow) -> Rect:
        """The window's top-level rectangle (frame with title bar), border included."""
        frame = self._display.create_resource_object("window", self.top_level_of(spawned))
        geometry = frame.get_geometry()
        border = geometry.border_width
        return Rect(
            geometry.x, geometry.y, geometry.width + 2 * border, geometry.height + 2 * border
        )

    def cleanup(self) -> None:
        for spawned in self._windows:
            _stop_process_group(spawned.process)
        self._windows.clear()
        self._display.close()

    def _start(self, command: list[str]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env={**os.environ, "DISPLAY": self.server.display},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def _read_window_id(self, process: subprocess.Popen[bytes]) -> int:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], _START_TIMEOUT)
        line = process.stdout.readline().decode() if ready else ""
        if not line.startswith("window "):
            _stop_process_group(process)
            pytest.fail(f"colour window did not start (exit status {process.returncode})")
        return int(line.split()[1], 16)

    def _wait_until_shown(self, spawned: SpawnedWindow, *, managed: bool) -> None:
        """Viewable, and under openbox's management (framed, WM_STATE set) unless unmanaged."""
        window = self._window(spawned)

        def shown() -> bool:
            if spawned.process.poll() is not None:
                pytest.fail(f"window process {spawned.title!r} exited early")
            if window.get_attributes().map_state != X.IsViewable:
                return False
            if not managed:
                return True
            wm_state = window.get_full_property(self._wm_state, self._wm_state)
            framed = window.query_tree().parent.id != self._display.screen().root.id
            return wm_state is not None and framed

        wait_for(shown, what=f"window {spawned.title!r} to be shown", timeout=_START_TIMEOUT)

    def _find_client(self, *, pid: int, title: str) -> int | None:
        pid_atom = self._display.intern_atom("_NET_WM_PID")
        for window in self._display.screen().root.query_tree().children:
            for candidate in [window, *window.query_tree().children]:
                try:
                    if candidate.get_wm_name() != title:
                        continue
                    owner = candidate.get_full_property(pid_atom, X.AnyPropertyType)
                except xerror.XError:
                    continue
                if owner is not None and int(owner.value[0]) == pid:
                    return int(candidate.id)
        return None

    def _topmost_viewable(self) -> int | None:
        # Override-redirect windows (openbox's own check window among them) are not managed
        # and never part of the managed stacking that activation changes.
        for child in reversed(self._display.screen().root.query_tree().children):
            attributes = child.get_attributes()
            if attributes.map_state == X.IsViewable and not attributes.override_redirect:
                return int(child.id)
        return None

    def _window(self, spawned: SpawnedWindow) -> Window:
        return self._display.create_resource_object("window", spawned.window_id)

    def _xdotool(self, action: str, option: str, spawned: SpawnedWindow) -> None:
        subprocess.run(
            [require_program("xdotool"), action, option, str(spawned.window_id)],
            check=True,
            timeout=_START_TIMEOUT,
            env={**os.environ, "DISPLAY": self.server.display},
        )


@pytest.fixture
def desktop(x_display: XServer) -> Iterator[Desktop]:
    """Windows for one test; all of them are killed afterwards."""
    session = Desktop(x_display)
    try:
        yield session
    finally:
        session.cleanup()
