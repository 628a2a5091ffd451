"""`create_locator`: the window locator for this platform, imported only when asked for."""

from __future__ import annotations

import sys

from agent.capture.geometry import Rect
from agent.capture.window.base import (
    LocatorUnavailableError,
    Visibility,
    WindowLocator,
    WindowMatch,
    WindowSnapshot,
)


class UnconfiguredLocator(WindowLocator):
    """Stands in when policy names no business window: the window is always missing."""

    def __init__(self) -> None:
        pass

    def snapshot(self) -> WindowSnapshot:
        return WindowSnapshot(Visibility.MISSING, Rect(0, 0, 0, 0))


def create_locator(match: WindowMatch | None) -> WindowLocator:
    """The locator for `match`; with no whitelist (None), one that never finds a window, so
    nothing of the screen is ever kept."""
    if match is None:
        return UnconfiguredLocator()
    if sys.platform.startswith("linux"):
        from agent.capture.window.x11 import X11WindowLocator  # noqa: PLC0415 - lazy backend

        return X11WindowLocator(match)
    raise LocatorUnavailableError(
        f"no window locator for platform {sys.platform!r} yet; Linux/X11 is supported"
    )
