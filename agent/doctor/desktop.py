"""Doctor checks for the desktop: X display, window manager, tray and the whitelisted window."""

from __future__ import annotations

import contextlib
import os
import re
import socket
from collections.abc import Iterator
from typing import Any

from agent.capture.window.base import LocatorUnavailableError, Visibility
from agent.capture.window.factory import create_locator
from agent.doctor.result import CheckResult, fail, ok, warn
from agent.settings.fields import AgentSettings

CONNECT_TIMEOUT_S = 2.0
_DISPLAY_RE = re.compile(r"(?P<host>[^:]*):(?P<number>\d+)(?:\.\d+)?")


# -- display ------------------------------------------------------------------------------


def _probe_x_socket(display: str) -> str | None:
    """None if something accepts connections where `display` points, else why not.

    python-xlib has no connect timeout, and a DISPLAY naming an unreachable TCP host would
    hang the doctor; a plain socket with a timeout answers first.
    """
    match = _DISPLAY_RE.fullmatch(display)
    if match is None:
        return f"DISPLAY={display!r} is not of the form [host]:number[.screen]"
    host, number = match["host"], int(match["number"])
    if host in ("", "unix"):
        path = f"/tmp/.X11-unix/X{number}"  # noqa: S108 - the X server's own socket
        errors = []
        # Abstract first, as libxcb does: a container may share it without the file.
        for address in ("\0" + path, path):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                probe.settimeout(CONNECT_TIMEOUT_S)
                try:
                    probe.connect(address)
                except OSError as exc:
                    errors.append(exc)
                    continue
                return None
        return f"nothing listens on {path}: {errors[-1]}"
    try:
        with socket.create_connection((host, 6000 + number), timeout=CONNECT_TIMEOUT_S):
            return None
    except OSError as exc:
        return f"cannot reach {host}:{6000 + number}: {exc}"


@contextlib.contextmanager
def _x_connection(display: str) -> Iterator[Any]:
    from Xlib import error as xerror  # noqa: PLC0415 - X libraries load only on Linux
    from Xlib.display import Display  # noqa: PLC0415

    from agent.capture.window.x11 import _close_abandoned_sockets  # noqa: PLC0415

    try:
        connection = Display(display)
    except (xerror.DisplayError, OSError) as exc:
        _close_abandoned_sockets(exc)
        raise LocatorUnavailableError(str(exc)) from None
    try:
        yield connection
    finally:
        connection.close()


def _window_manager(connection: Any) -> CheckResult:
    from Xlib import X  # noqa: PLC0415

    root = connection.screen().root
    check_atom = connection.intern_atom("_NET_SUPPORTING_WM_CHECK")
    prop = root.get_full_property(check_atom, X.AnyPropertyType)
    fix = (
        "run the agent inside a desktop session with an EWMH window manager (GNOME, KDE,"
        " Xfce, openbox...); without one, window stacking and minimising cannot be tracked"
    )
    if prop is None or not len(prop.value):
        return fail(
            "window-manager", "no EWMH window manager (_NET_SUPPORTING_WM_CHECK unset)", fix
        )
    child = connection.create_resource_object("window", int(prop.value[0]))
    name = "unnamed"
    with contextlib.suppress(Exception):
        utf8 = connection.intern_atom("UTF8_STRING")
        value = child.get_full_property(connection.intern_atom("_NET_WM_NAME"), utf8)
        if value is not None:
            raw = value.value
            name = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return ok("window-manager", f"EWMH window manager: {name}")


def _tray(connection: Any) -> CheckResult:
    from Xlib import X  # noqa: PLC0415

    screen_number = connection.get_default_screen()
    selection = f"_NET_SYSTEM_TRAY_S{screen_number}"
    owner = connection.get_selection_owner(connection.intern_atom(selection))
    owner_id = owner if isinstance(owner, int) else getattr(owner, "id", X.NONE)
    if owner_id == X.NONE:
        return warn(
            "tray",
            f"no system tray: nobody owns the {selection} selection, so the Callreel tray"
            " icon (the recording indicator and its menu) cannot show",
            "enable a system tray in the desktop (a panel with a notification area, or on"
            " GNOME the AppIndicator/KStatusNotifierItem extension); desktops that only offer"
            " a StatusNotifier host over D-Bus may still show the icon",
        )
    return ok("tray", f"system tray present (window {owner_id:#x} owns {selection})")


def check_display() -> list[CheckResult]:
    display = os.environ.get("DISPLAY", "")
    wayland = os.environ.get("WAYLAND_DISPLAY", "")
    if not display:
        if wayland:
            return [
                fail(
                    "display",
                    f"Wayland-only session (WAYLAND_DISPLAY={wayland}, DISPLAY unset): window"
                    " capture needs X11 or XWayland for now",
                    "log in to an X11 session, or enable XWayland so that DISPLAY is set",
                )
            ]
        return [
            fail(
                "display",
                "no graphical session: neither DISPLAY nor WAYLAND_DISPLAY is set",
                "run the agent inside the user's desktop session (it starts with the login)",
            )
        ]
    problem = _probe_x_socket(display)
    fix = "run the agent inside the user's X11 session, or set DISPLAY to it"
    if problem is not None:
        return [fail("display", f"X display {display} unreachable: {problem}", fix)]
    try:
        with _x_connection(display) as connection:
            where = f" (XWayland in Wayland session {wayland})" if wayland else ""
            vendor = connection.display.info.vendor
            results = [ok("display", f"X display {display} reachable, {vendor}{where}")]
            results.append(_window_manager(connection))
            results.append(_tray(connection))
            return results
    except LocatorUnavailableError as exc:
        return [fail("display", f"cannot connect to X display {display}: {exc}", fix)]


# -- the whitelisted window ----------------------------------------------------------------


def check_window(config: AgentSettings) -> CheckResult:
    match = config.window_match()
    if match is None:
        return fail(
            "window",
            "no business window whitelisted",
            "nothing to record: set window_title_pattern/window_executable/window_class in"
            " the managed policy",
        )
    wanted = ", ".join(
        f"{label} {value!r}"
        for label, value in (
            ("title", match.title_pattern),
            ("executable", match.executable),
            ("class", match.window_class),
        )
        if value is not None
    )
    try:
        locator = create_locator(match)
    except LocatorUnavailableError as exc:
        return fail("window", str(exc), "run the agent on Linux/X11")
    try:
        snapshot = locator.snapshot()
    except LocatorUnavailableError as exc:
        return fail("window", str(exc), "fix the display problem above")
    finally:
        locator.close()
    if snapshot.visibility is Visibility.MISSING:
        return warn(
            "window",
            f"no window matches {wanted} right now (it may just not be open)",
            "open the business application; if it is open, correct the whitelist in the"
            " managed policy (xprop shows a window's title and WM_CLASS)",
        )
    state = snapshot.visibility.value.replace("_", " ")
    return ok(
        "window",
        f"found {snapshot.title!r} (window {snapshot.window_id:#x}, {state}) for {wanted}",
    )
