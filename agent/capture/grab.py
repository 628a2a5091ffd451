"""Grab the whitelisted window's pixels; agent/capture/kept_pixels.py decides what is kept.

A frame is only read when something may have changed: the locator says whether the window drew
anything or any window moved since the last check (on X11, from the server's damage and
structure events), and while nothing did, the previous frame is kept as it was. A frame whose
grab saw windows move, or made while the pause was otherwise, is never kept that way.

Order per frame read: snapshot the windows, read the target's on-screen part, snapshot again. If
anything moved in between, the grab may hold pixels of another window, so the frame is
stored black. The second snapshot is the first one again when the locator can tell that
nothing changed since it began (on X11, from the server's events: one round trip, not the
dozens of a snapshot). A target that is not plainly visible is not read at all: its frame is black,
never the desktop.
"""

from __future__ import annotations

import threading

import mss
import numpy as np

from agent.capture.geometry import Rect
from agent.capture.kept_pixels import (
    DEFAULT_FRAME_SIZE,
    Grab,
    KeptPixels,
    MaskedFrame,
    on_screen_area,
)
from agent.capture.mask import Pixels
from agent.capture.window.base import Visibility, WindowLocator


class ScreenGrabber:
    """Reads screen pixels with mss; one mss handle per thread, opened on first use."""

    def __init__(self) -> None:
        self._local = threading.local()

    def open(self) -> mss.MSS:
        """This thread's handle (connecting to the display the first time)."""
        handle: mss.MSS | None = getattr(self._local, "mss", None)
        if handle is None:
            handle = mss.MSS()
            self._local.mss = handle
        return handle

    def grab(self, area: Rect) -> Pixels:
        shot = self.open().grab(
            {"left": area.x, "top": area.y, "width": area.width, "height": area.height}
        )
        # `raw` holds the same BGRA bytes as `bgra`, which only makes an extra `bytes` copy of
        # them (a third of a grab's CPU). Every mss 10.2 backend returns a new bytearray per
        # grab (pyproject pins it), so the array may keep it and be written to: no copy.
        return np.frombuffer(shot.raw, dtype=np.uint8).reshape(shot.height, shot.width, 4)

    def close(self) -> None:
        """Close the calling thread's handle (each thread's is its own)."""
        handle = getattr(self._local, "mss", None)
        if handle is not None:
            handle.close()
            self._local.mss = None


class MaskedGrabber:
    """Reads the business window's part of the screen and keeps what `KeptPixels` allows."""

    def __init__(
        self,
        locator: WindowLocator,
        screen: ScreenGrabber | None = None,
        *,
        kept: KeptPixels | None = None,
        blank_size: tuple[int, int] = DEFAULT_FRAME_SIZE,
    ) -> None:
        self._locator = locator
        self._screen = screen or ScreenGrabber()
        self._kept = kept or KeptPixels()
        self._size = blank_size  # width, height of black frames until the window is seen
        self._still: tuple[MaskedFrame, bool] | None = None
        """The last frame and whether it was paused, while it may stand for the next one."""

    def warm_up(self) -> None:
        """Connect to the display and start following the window, in the thread that will
        grab, so that its first frame costs no more than the others."""
        self._screen.open()
        self._locator.snapshot()

    def grab(self, *, paused: bool = False) -> MaskedFrame:
        """One frame: the previous one if nothing changed since it, else read afresh."""
        unchanged = self._locator.unchanged_since_last_check()
        still = self._still
        if unchanged and still is not None and still[1] == paused:
            return still[0]
        frame, settled = self._read(paused)
        self._still = (frame, paused) if settled else None
        return frame

    def _read(self, paused: bool) -> tuple[MaskedFrame, bool]:
        """Snapshot the windows, read the window's on-screen part, snapshot again; and whether
        nothing changed meanwhile (so the frame may stand for the next while nothing does)."""
        before = self._locator.snapshot()
        area = on_screen_area(before)
        grab = Grab(before)
        if area is not None:
            pixels = self._screen.grab(area)
            after = self._locator.snapshot() if self._locator.changed_since_snapshot() else before
            grab = Grab(before, after, pixels)
        frame = self._kept.frame(grab, paused=paused, blank_size=self._size)
        if before.visibility is Visibility.VISIBLE and before.target is not None:
            self._size = (before.target.width, before.target.height)
        return frame, grab.after is None or grab.after is before

    def close_screen(self) -> None:
        """Close the calling thread's connection for reading pixels."""
        self._screen.close()

    def close(self) -> None:
        self._screen.close()
        self._locator.close()
