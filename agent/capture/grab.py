"""Grab the whitelisted window's pixels and black out everything else (DESIGN invariant 3).

Order per frame: snapshot the windows, grab the target's on-screen part, snapshot again. If
anything moved in between, the grab may hold pixels of another window, so the frame is
stored black. A target that is not plainly visible also gives a black frame, never the
desktop.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

import mss
import numpy as np

from agent.capture.geometry import Rect
from agent.capture.mask import Pixels, black_out, kept_pixels_mask
from agent.capture.window import Visibility, WindowLocator, WindowSnapshot

DEFAULT_FRAME_SIZE = (1280, 720)


@dataclass(frozen=True, slots=True)
class MaskedFrame:
    pixels: Pixels
    """Height x width x 4 (BGRA); every pixel not of the whitelisted window is zero."""
    snapshot: WindowSnapshot
    blank_reason: str | None = None
    """Why the whole frame is black (window minimised, missing, moved during the grab...)."""


class ScreenGrabber:
    """Reads screen pixels with mss; one mss handle per thread, opened on first use."""

    def __init__(self) -> None:
        self._local = threading.local()

    def grab(self, area: Rect) -> Pixels:
        handle = getattr(self._local, "mss", None)
        if handle is None:
            handle = mss.MSS()
            self._local.mss = handle
        shot = handle.grab(
            {"left": area.x, "top": area.y, "width": area.width, "height": area.height}
        )
        # `raw` holds the same BGRA bytes as `bgra`, which only makes an extra `bytes` copy of
        # them (a third of a grab's CPU). Copied once here because mss may reuse its buffer.
        return np.frombuffer(shot.raw, dtype=np.uint8).reshape(shot.height, shot.width, 4).copy()

    def close(self) -> None:
        handle = getattr(self._local, "mss", None)
        if handle is not None:
            handle.close()
            self._local.mss = None


class MaskedGrabber:
    def __init__(
        self,
        locator: WindowLocator,
        screen: ScreenGrabber | None = None,
        *,
        redactions: Sequence[Rect] = (),
        blank_size: tuple[int, int] = DEFAULT_FRAME_SIZE,
    ) -> None:
        self._locator = locator
        self._screen = screen or ScreenGrabber()
        self._redactions = tuple(redactions)
        self._size = blank_size  # width, height of black frames until the window is seen

    def grab(self) -> MaskedFrame:
        before = self._locator.snapshot()
        if before.visibility is not Visibility.VISIBLE or before.target is None:
            return self._blank(before, f"business window is {before.visibility.value}")
        target = before.target
        self._size = (target.width, target.height)
        on_screen = target.intersection(before.screen)
        if on_screen is None:
            return self._blank(before, "business window is off screen")
        grabbed = self._screen.grab(on_screen)
        after = self._locator.snapshot()
        if after != before:
            return self._blank(after, "windows changed during the grab")
        pixels = np.zeros((target.height, target.width, 4), dtype=np.uint8)
        placed = on_screen.relative_to(target)
        pixels[placed.y : placed.bottom, placed.x : placed.right] = grabbed
        mask = kept_pixels_mask(target, before.screen, before.occluders, self._redactions)
        return MaskedFrame(black_out(pixels, mask), before)

    def _blank(self, snapshot: WindowSnapshot, reason: str) -> MaskedFrame:
        width, height = self._size
        return MaskedFrame(np.zeros((height, width, 4), dtype=np.uint8), snapshot, reason)

    def close(self) -> None:
        self._screen.close()
        self._locator.close()
