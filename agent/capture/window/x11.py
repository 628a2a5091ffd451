"""X11 window locator: finds the whitelisted window and everything stacked above it.

The stacking truth comes from `query_tree` on the root window, whose children are listed
bottom to top. Under a reparenting window manager those children are the frames (title bar
and borders included) plus override-redirect windows (menus, tooltips) that
`_NET_CLIENT_LIST_STACKING` leaves out. Any viewable child above the target's own top-level
ancestor that overlaps the target is reported as an occluder with its full rectangle.

Asking all that takes a few dozen round trips, so a snapshot stands for the next ones while
the server's events say nothing it relied on changed: a window that only draws is read at
every frame without asking again where every window is.

Not thread-safe: one locator serves one capture thread.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from Xlib import X, Xatom
from Xlib import error as xerror
from Xlib.display import Display
from Xlib.xobject.drawable import Window

from agent.capture.geometry import Rect
from agent.capture.window.base import (
    LocatorUnavailableError,
    Visibility,
    WindowLocator,
    WindowMatch,
    WindowSnapshot,
)
from agent.capture.window.x11_damage import WindowDamage

_ICONIC_STATE = 3
"""ICCCM WM_STATE value of a minimised (iconified) window."""
_PROPERTY_LONGS = 4096
"""Read properties in one request (16 KiB): titles and client lists fit, no second round trip."""
_PROC = Path("/proc")
_ROOT_EVENTS = X.SubstructureNotifyMask | X.StructureNotifyMask | X.PropertyChangeMask
"""Top-level windows (frames, menus) created, mapped, moved, restacked or gone; the screen
resized; the window manager's client list changed."""
_TARGET_EVENTS = X.StructureNotifyMask | X.SubstructureNotifyMask | X.PropertyChangeMask
"""The business window, and each window between it and the root (a frame): moved, resized,
unmapped, reparented, retitled, minimised."""
_WATCHED_LIMIT = 1024
"""Windows remembered as watched; past it the list starts afresh (re-selecting is harmless)."""
SNAPSHOT_REUSE_S = 1.0
"""How long a snapshot may stand for the next ones while no event says it changed. Events
cover every window it relied on; this bounds the rest: the titles of other windows, one of
which may come to match the whitelist above the one recorded (it covers it meanwhile, so it
is masked; it is only not yet the one recorded)."""


@dataclass(frozen=True, slots=True)
class _Atoms:
    wm_state: int
    net_wm_state: int
    net_wm_state_hidden: int
    net_wm_name: int
    net_wm_pid: int
    net_client_list_stacking: int
    utf8_string: int

    def read_by_snapshots(self) -> frozenset[int]:
        """The properties a snapshot reads: a change to any other one changes nothing."""
        return frozenset(
            {
                self.wm_state, self.net_wm_state, self.net_wm_name, self.net_wm_pid,
                self.net_client_list_stacking, Xatom.WM_NAME, Xatom.WM_CLASS,
            }
        )  # fmt: skip

    @classmethod
    def intern(cls, display: Display) -> _Atoms:
        return cls(
            wm_state=display.intern_atom("WM_STATE"),
            net_wm_state=display.intern_atom("_NET_WM_STATE"),
            net_wm_state_hidden=display.intern_atom("_NET_WM_STATE_HIDDEN"),
            net_wm_name=display.intern_atom("_NET_WM_NAME"),
            net_wm_pid=display.intern_atom("_NET_WM_PID"),
            net_client_list_stacking=display.intern_atom("_NET_CLIENT_LIST_STACKING"),
            utf8_string=display.intern_atom("UTF8_STRING"),
        )


def process_executable_names(pid: int, proc: Path = _PROC) -> frozenset[str]:
    """Names the process `pid` runs as: its executable's file name and its `comm` name.

    Empty when the process is gone or belongs to someone we may not inspect. `comm` is the
    fallback for processes whose `exe` link we cannot read, but the kernel cuts it to 15
    characters, so it only ever stands for a name of that length.
    """
    names: set[str] = set()
    process = proc / str(pid)
    with contextlib.suppress(OSError):
        names.add(Path((process / "exe").readlink()).name.removesuffix(" (deleted)"))
    with contextlib.suppress(OSError):
        names.add(process.joinpath("comm").read_text(encoding="utf-8", errors="replace").strip())
    names.discard("")
    return frozenset(names)


def executable_matches(wanted: str, names: frozenset[str]) -> bool:
    if wanted in names:
        return True
    # A truncated comm name can only vouch for a name it is a 15-character prefix of.
    return len(wanted) > 15 and wanted[:15] in names


def split_wm_class(raw: bytes) -> tuple[str, ...]:
    """WM_CLASS holds `instance NUL class NUL` in Latin-1."""
    return tuple(part.decode("latin-1") for part in raw.split(b"\0") if part)


def outer_rect(x: int, y: int, width: int, height: int, border_width: int) -> Rect:
    """A window's rectangle with its X border, which is painted and covers what lies below."""
    return Rect(x, y, width + 2 * border_width, height + 2 * border_width)


def visibility_of(*, viewable: bool, minimised: bool, client: Rect, screen: Rect) -> Visibility:
    if minimised:
        return Visibility.MINIMISED
    if not viewable:
        return Visibility.UNMAPPED
    if client.intersection(screen) is None:
        return Visibility.OFF_SCREEN
    return Visibility.VISIBLE


def _as_bytes(value: Any) -> bytes:
    # python-xlib returns 8-bit properties as bytes, older releases as str.
    return value.encode("latin-1") if isinstance(value, str) else bytes(value)


def _close_abandoned_sockets(failure: BaseException) -> None:
    """Close the sockets python-xlib 0.33 leaves open when it fails to connect.

    Its connect helpers raise without closing the sockets they opened; those would otherwise
    linger (and warn) until garbage collection, once per reconnection attempt.
    """
    seen: set[int] = set()
    pending: list[BaseException | None] = [failure]
    while pending:
        error = pending.pop()
        if error is None or id(error) in seen:
            continue
        seen.add(id(error))
        pending += [error.__cause__, error.__context__]
        trace = error.__traceback__
        while trace is not None:
            for value in trace.tb_frame.f_locals.values():
                if isinstance(value, socket.socket):
                    value.close()
            trace = trace.tb_next


class X11WindowLocator(WindowLocator):
    """`WindowLocator` for X11 (and XWayland) through python-xlib."""

    def __init__(self, match: WindowMatch) -> None:
        super().__init__(match)
        self._title_regex = (
            re.compile(match.title_pattern) if match.title_pattern is not None else None
        )
        self._display: Display | None = None
        self._atoms: _Atoms | None = None
        self._watched: set[int] = set()
        self._relevant_properties: frozenset[int] = frozenset()
        self._watch_began_late = True
        """A window the last snapshot relied on was only watched from within it (so a change
        in between would have sent no event): the next `changed_since_snapshot` says True."""
        self._damage: WindowDamage | None = None
        self._damage_seen_last_check = True
        self._last: WindowSnapshot | None = None
        self._last_began_at = 0.0
        self._changes_since_last = 0
        """Events telling of a change since the last snapshot that polled the server began."""

    def close(self) -> None:
        if self._display is not None:
            display, self._display = self._display, None
            # A display that went away (its server stopped) has nothing left to close.
            with contextlib.suppress(xerror.ConnectionClosedError, OSError):
                display.close()

    def snapshot(self) -> WindowSnapshot:
        """The last snapshot again while no event since it began tells of a change (nor is it
        older than `SNAPSHOT_REUSE_S`); else the server is asked, a few dozen round trips.

        Events still on their way are no risk: `changed_since_snapshot` counts them from the
        same instant, so the grab that relies on this answer is checked against them."""
        display, atoms = self._connect()
        try:
            self._take_events(display)
            last, now = self._last, time.monotonic()
            if (
                last is not None
                and self._changes_since_last == 0
                and not self._watch_began_late
                and now - self._last_began_at < SNAPSHOT_REUSE_S
            ):
                return last
            # Events so far tell of changes this snapshot sees anyway.
            self._changes_since_last = 0
            self._watch_began_late = False
            self._last, self._last_began_at = None, now
            polled = self._snapshot(display.screen().root, atoms)
        except xerror.ConnectionClosedError as exc:
            self._display = None
            raise LocatorUnavailableError(
                f"lost the connection to X display {os.environ.get('DISPLAY', '')!r}: {exc}; "
                "the next snapshot reconnects"
            ) from exc
        self._last = polled
        return polled

    def changed_since_snapshot(self) -> bool:
        """From the events of the windows the last snapshot relied on, after a round trip.

        The pixels come through another connection (mss), but the server is one process: once
        this connection's round trip is answered, every change it made before then (so every
        change before the pixels were read) has queued its event here, ahead of the answer."""
        display = self._display
        if display is None or self._watch_began_late:
            return True
        try:
            display.sync()
            self._take_events(display)
        except xerror.ConnectionClosedError:
            self._display = None
            return True  # the next snapshot says what went wrong
        return self._changes_since_last > 0

    def unchanged_since_last_check(self) -> bool:
        """From the damage of the business window and the events of the windows the last
        snapshot relied on, after one round trip.

        The damage is emptied before that round trip, so a change from then on shows in the
        next check. A change seen now also makes the next check say False: under a compositing
        window manager the screen shows the window's new pixels a moment after it drew them,
        and the grab that follows this check may be too early for them."""
        display, window_damage = self._display, self._damage
        if display is None:
            return False
        if window_damage is None:
            # Asked for the first time on this connection: snapshots follow the window's
            # damage from now on (a locator never asked, the payment title watcher's, keeps
            # none on the server).
            self._damage = WindowDamage(display)
            self._last = None  # the next snapshot finds the window to watch the damage of
            return False
        if not window_damage.watching:
            return False
        try:
            window_damage.empty()
            display.sync()
            moved = self._take_events(display) > 0
        except xerror.ConnectionClosedError:
            self._display = None
            return False  # the next snapshot says what went wrong
        seen, window_damage.seen = window_damage.seen, False
        settling, self._damage_seen_last_check = self._damage_seen_last_check, seen
        return not (moved or seen or settling or self._watch_began_late)

    def _take_events(self, display: Display) -> int:
        """Empty the event queue; returns how many events tell of a change snapshots see."""
        relevant = 0
        for _ in range(display.pending_events()):
            event = display.next_event()
            if self._damage is not None and self._damage.take(event):
                continue  # pixels drawn: `unchanged_since_last_check` reads that, not snapshots
            if event.type == X.PropertyNotify and event.atom not in self._relevant_properties:
                continue  # say a client's user time, updated on every key press
            if event.type == X.DestroyNotify:
                # Its id may be handed out again, to a window nobody watches yet.
                self._watched.discard(event.window.id)
                if self._damage is not None:
                    self._damage.window_destroyed(event.window.id)
            relevant += 1
        self._changes_since_last += relevant
        return relevant

    def _watch(self, window: Window) -> None:
        """Ask for `window`'s events from now on (once per window)."""
        if window.id in self._watched:
            return
        if len(self._watched) >= _WATCHED_LIMIT:
            self._watched.clear()
        self._watched.add(window.id)
        self._watch_began_late = True
        # A window gone meanwhile answers BadWindow later; caught, as the snapshot copes.
        window.change_attributes(event_mask=_TARGET_EVENTS, onerror=xerror.CatchError())

    def _connect(self) -> tuple[Display, _Atoms]:
        if self._display is None or self._atoms is None:
            name = os.environ.get("DISPLAY")
            try:
                display = Display()
            except (xerror.DisplayError, OSError) as exc:
                _close_abandoned_sockets(exc)
                raise LocatorUnavailableError(
                    f"cannot connect to X display {name!r}: {exc}. Run the agent inside the "
                    "user's X11 session (on Wayland, through XWayland) or set DISPLAY to it."
                ) from exc
            atoms = _Atoms.intern(display)
            display.screen().root.change_attributes(event_mask=_ROOT_EVENTS)
            self._display, self._atoms = display, atoms
            self._damage = None
            self._last = None
            self._relevant_properties = atoms.read_by_snapshots()
            self._watched = set()
            self._watch_began_late = True
        return self._display, self._atoms

    def _connected_display(self) -> Display:
        assert self._display is not None, "only called while connected"  # noqa: S101
        return self._display

    def _snapshot(self, root: Window, atoms: _Atoms) -> WindowSnapshot:
        root_geometry = root.get_geometry()
        screen = Rect(0, 0, root_geometry.width, root_geometry.height)
        stack = list(root.query_tree().children)
        found = self._find_target(root, stack, atoms)
        window_damage = self._damage
        if found is None:
            if window_damage is not None:
                window_damage.forget()
            return WindowSnapshot(Visibility.MISSING, screen)
        window, title = found
        self._watch(window)
        if window_damage is not None:
            window_damage.follow(window)
        try:
            attributes = window.get_attributes()
            geometry = window.get_geometry()
            origin = root.translate_coords(window.id, 0, 0)
            minimised = self._is_minimised(window, atoms)
        except xerror.XError:
            return WindowSnapshot(Visibility.MISSING, screen)
        target = Rect(origin.x, origin.y, geometry.width, geometry.height)
        visibility = visibility_of(
            viewable=attributes.map_state == X.IsViewable,
            minimised=minimised,
            client=target,
            screen=screen,
        )
        occluders: tuple[Rect, ...] = ()
        if visibility is Visibility.VISIBLE:
            occluders = self._occluders(root, stack, window, target)
        return WindowSnapshot(visibility, screen, target, occluders, title, window.id)

    def _find_target(
        self, root: Window, stack: Sequence[Window], atoms: _Atoms
    ) -> tuple[Window, str] | None:
        """The topmost matching client: managed windows first, then bare top-level windows.

        Bare (unmanaged) top-level windows are clients without a window manager and clients
        the window manager has withdrawn (unmapped). Toolkits also leave unmapped "leader"
        windows there carrying the application's WM_CLASS; they only win when nothing
        managed matches, and a viewable one beats an unmapped one.
        """
        display = self._connected_display()
        managed_ids = self._managed_client_ids(root, atoms)
        for window_id in reversed(managed_ids):
            window = display.create_resource_object("window", window_id)
            title = self._matching_title(window, atoms)
            if title is not None:
                return window, title
        fallback: tuple[Window, str] | None = None
        managed = set(managed_ids)
        for window in reversed(stack):
            if window.id in managed:
                continue
            title = self._matching_title(window, atoms)
            if title is None:
                continue
            try:
                attributes = window.get_attributes()
            except xerror.XError:
                continue
            if attributes.override_redirect:
                continue  # menus and tooltips are never the business window itself
            if attributes.map_state == X.IsViewable:
                return window, title
            fallback = fallback or (window, title)
        return fallback

    def _managed_client_ids(self, root: Window, atoms: _Atoms) -> list[int]:
        clients = root.get_property(
            atoms.net_client_list_stacking, Xatom.WINDOW, 0, _PROPERTY_LONGS
        )
        return [] if clients is None else [int(window_id) for window_id in clients.value]

    def _matching_title(self, window: Window, atoms: _Atoms) -> str | None:
        """The window's title if it matches every whitelist field, else None."""
        try:
            if self.match.window_class is not None:
                wm_class = window.get_property(Xatom.WM_CLASS, Xatom.STRING, 0, _PROPERTY_LONGS)
                if wm_class is None or self.match.window_class not in split_wm_class(
                    _as_bytes(wm_class.value)
                ):
                    return None
            title = self._title(window, atoms)
            if self._title_regex is not None and (
                title is None or self._title_regex.search(title) is None
            ):
                return None
            if self.match.executable is not None and not self._runs_executable(
                window, atoms, self.match.executable
            ):
                return None
        except xerror.XError:
            return None  # destroyed while we looked: it is not there any more
        return title or ""

    def _title(self, window: Window, atoms: _Atoms) -> str | None:
        net_name = window.get_property(atoms.net_wm_name, X.AnyPropertyType, 0, _PROPERTY_LONGS)
        if net_name is not None and net_name.format == 8:
            return _as_bytes(net_name.value).decode("utf-8", errors="replace")
        # xterm and other older clients only set WM_NAME (STRING is Latin-1; COMPOUND_TEXT
        # is treated as Latin-1 too, which is exact for its ASCII and Latin-1 parts).
        name = window.get_property(Xatom.WM_NAME, X.AnyPropertyType, 0, _PROPERTY_LONGS)
        if name is not None and name.format == 8:
            raw = _as_bytes(name.value)
            if name.property_type == atoms.utf8_string:
                return raw.decode("utf-8", errors="replace")
            return raw.decode("latin-1")
        return None

    def _runs_executable(self, window: Window, atoms: _Atoms, executable: str) -> bool:
        pid = window.get_property(atoms.net_wm_pid, Xatom.CARDINAL, 0, 1)
        if pid is None or not pid.value:
            return False
        return executable_matches(executable, process_executable_names(int(pid.value[0])))

    def _is_minimised(self, window: Window, atoms: _Atoms) -> bool:
        wm_state = window.get_property(atoms.wm_state, atoms.wm_state, 0, 2)
        if wm_state is not None and wm_state.value and int(wm_state.value[0]) == _ICONIC_STATE:
            return True
        net_state = window.get_property(atoms.net_wm_state, Xatom.ATOM, 0, _PROPERTY_LONGS)
        return net_state is not None and atoms.net_wm_state_hidden in net_state.value

    def _occluders(
        self, root: Window, stack: list[Window], window: Window, target: Rect
    ) -> tuple[Rect, ...]:
        """Full rectangles of the viewable top-level windows above the target that overlap it."""
        covered_entirely = (target,)
        try:
            top_level = self._top_level_ancestor(root, window)
        except xerror.XError:
            return covered_entirely  # the target is going away; show none of it
        position = next((i for i, child in enumerate(stack) if child.id == top_level), None)
        if position is None:
            # Reparented since we listed the stack (a window manager just took it over):
            # its stacking place is unknown, so nothing of it may be shown this time.
            return covered_entirely
        occluders: list[Rect] = []
        for child in stack[position + 1 :]:
            try:
                attributes = child.get_attributes()
                if attributes.map_state != X.IsViewable or attributes.win_class == X.InputOnly:
                    continue  # not drawn on screen
                geometry = child.get_geometry()
            except xerror.XError:
                # It vanished or changed while we looked. The frame being grabbed may still
                # show it somewhere over the target, so the target is treated as covered.
                occluders.append(target)
                continue
            rect = outer_rect(
                geometry.x, geometry.y, geometry.width, geometry.height, geometry.border_width
            )
            if rect.intersection(target) is not None:
                occluders.append(rect)
        return tuple(occluders)

    def _top_level_ancestor(self, root: Window, window: Window) -> int:
        """The root child holding `window`: its frame under a reparenting window manager.
        Each window on the way is watched: moving any of them moves the business window."""
        current = window
        while True:
            parent = current.query_tree().parent
            if parent is None or parent.id in (root.id, X.NONE):
                return current.id
            self._watch(parent)
            current = parent
