"""Windows on the real test desktop (Xvfb + openbox): coloured windows and xterms a test
spawns and drives (move, raise, minimise, unmap, close, kill); `cleanup()` kills them all."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
from dataclasses import dataclass, field

import pytest
from Xlib import X
from Xlib import error as xerror
from Xlib.display import Display
from Xlib.xobject.drawable import Window

from agent.capture.geometry import Rect
from testbed.programs import require_program, stop_process_group
from testbed.waiting import wait_for
from testbed.x_display import XServer
from tests.helpers.data import REPO_ROOT

_START_TIMEOUT = 10.0
_ICONIC_OR_NORMAL = (1, 3)


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
            "tests.children.colour_window",
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

    def set_title(self, spawned: SpawnedWindow, title: str) -> None:
        """Retitle the window as an application does (WM_NAME and _NET_WM_NAME)."""
        window = self._window(spawned)
        window.set_wm_name(title)
        utf8 = self._display.intern_atom("UTF8_STRING")
        window.change_property(self._display.intern_atom("_NET_WM_NAME"), utf8, 8, title.encode())
        self._display.sync()

    def paint(self, spawned: SpawnedWindow, area: Rect, rgb: int, *, inside: int = 0) -> None:
        """Fill `area` (relative to the window, or to its subwindow `inside`) with `rgb`, as
        the application itself draws: pixels change, no window moves."""
        window = self._display.create_resource_object("window", inside or spawned.window_id)
        brush = window.create_gc(foreground=rgb)
        window.fill_rectangle(brush.id, area.x, area.y, area.width, area.height)
        brush.free()
        self._display.sync()

    def add_subwindow(self, spawned: SpawnedWindow, area: Rect, rgb: int) -> int:
        """A mapped child window of `spawned` at `area`, filled with `rgb`: where toolkits
        that give each widget its own window (Tk, Motif, xterm) draw."""
        child = self._window(spawned).create_window(
            area.x, area.y, area.width, area.height, 0, X.CopyFromParent,
            background_pixel=rgb,
        )  # fmt: skip
        child.map()
        self._display.sync()
        return int(child.id)

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
            stop_process_group(spawned.process)
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
            stop_process_group(process)
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
