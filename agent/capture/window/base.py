"""Finding the whitelisted business window and what covers it, behind one per-OS interface.

Backends: `agent.capture.window.x11.X11WindowLocator` (Linux/X11). Windows and macOS locators
implement the same `WindowLocator` interface. `agent.capture.window.factory.create_locator`
imports the backend lazily, so that no OS library loads on another OS and no display
connection opens at import time; this module imports no backend.
"""

from __future__ import annotations

import abc
import enum
import re
from dataclasses import dataclass

from agent.capture.geometry import Rect


@dataclass(frozen=True, slots=True)
class WindowMatch:
    """Which window is the business application (from managed policy). Any set field must match."""

    executable: str | None = None
    """Process executable name, e.g. `crm.exe` or `firefox` (from the window's PID)."""
    window_class: str | None = None
    """X11 WM_CLASS class or instance, Windows class name, macOS bundle id."""
    title_pattern: str | None = None
    """Regular expression searched in the window title."""

    def __post_init__(self) -> None:
        if self.executable is None and self.window_class is None and self.title_pattern is None:
            raise ValueError(
                "a window whitelist needs at least one of: executable, window class, title pattern"
            )
        if self.title_pattern is not None:
            try:
                re.compile(self.title_pattern)
            except re.error as exc:
                raise ValueError(
                    f"title pattern {self.title_pattern!r} is not a valid regular expression: {exc}"
                ) from None


class Visibility(enum.Enum):
    VISIBLE = "visible"
    """Mapped and at least partly on screen; parts may still be covered (see occluders)."""
    MINIMISED = "minimised"
    UNMAPPED = "unmapped"
    """Hidden (withdrawn, on another workspace) without being minimised."""
    OFF_SCREEN = "off_screen"
    MISSING = "missing"
    """No window matches the whitelist (not started, closed)."""


@dataclass(frozen=True, slots=True)
class WindowSnapshot:
    """What the locator saw at one instant. Two equal snapshots mean nothing moved."""

    visibility: Visibility
    screen: Rect
    """The whole screen (root window) the window lives on."""
    target: Rect | None = None
    """The business window's client area in screen coordinates (None unless found)."""
    occluders: tuple[Rect, ...] = ()
    """Every window stacked above the target that overlaps it, frames and title bars included,
    plus override-redirect windows (menus, tooltips), in screen coordinates."""
    title: str = ""
    window_id: int = 0


class WindowLocator(abc.ABC):
    """Per-OS window facts. Opens its OS handles lazily, on first use."""

    def __init__(self, match: WindowMatch) -> None:
        self.match = match

    @abc.abstractmethod
    def snapshot(self) -> WindowSnapshot:
        """Locate the whitelisted window now; never raises for a missing or hidden window."""

    def changed_since_snapshot(self) -> bool:
        """Whether anything that `snapshot` reports may have changed since the last one began.

        Asked right after the pixels are read: False lets the grab reuse that snapshot as the
        one after the read, instead of taking a second. A backend that cannot tell says True
        (the default), and the grab takes the second snapshot as before."""
        return True

    def unchanged_since_last_check(self) -> bool:
        """Whether neither the window's pixels nor anything `snapshot` reports can have
        changed since the previous call, or since the grab that followed it.

        Asked before each grab: True lets it keep the previous frame without reading the
        screen. Each call starts watching afresh, so a False is the cue to grab now. A backend
        that cannot tell says False (the default), and every frame is grabbed."""
        return False

    def close(self) -> None:  # noqa: B027 - optional hook; not every backend holds handles
        """Release OS handles."""


class LocatorUnavailableError(RuntimeError):
    """No window backend works here (no display, unsupported platform); the message says why."""
