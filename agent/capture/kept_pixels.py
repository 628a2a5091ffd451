"""Which pixels of a grab are kept: the one place that decides it (R6, R7; docs/design.md,
invariant 3).

Both the recording (agent/capture/pipeline.py) and the live preview in the agent's window
(agent/capture/factory.py) take their frames from here, so the preview shows exactly what a
recording would keep. Pure: a grab and the window facts around it in, a frame out.

A frame is wholly black when the business window is not plainly visible (minimised, hidden,
missing, off screen), when anything moved while it was grabbed (the grab may hold another
window's pixels), when its title matches the payment pattern, or while recording is paused.
Otherwise only the pixels `agent.capture.mask.kept_pixels_mask` keeps survive: none of a
window stacked above it, nothing off screen, nothing in a redaction area from policy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from agent.capture.geometry import Rect
from agent.capture.mask import Pixels, black_out_areas, hidden_areas
from agent.capture.window.base import Visibility, WindowSnapshot
from protocol.recording_vocabulary import BlankReason

DEFAULT_FRAME_SIZE = (1280, 720)

_HIDDEN_BY_VISIBILITY = {
    Visibility.MINIMISED: BlankReason.MINIMISED,
    Visibility.UNMAPPED: BlankReason.HIDDEN,
    Visibility.OFF_SCREEN: BlankReason.OFF_SCREEN,
    Visibility.MISSING: BlankReason.MISSING,
}


@dataclass(frozen=True, slots=True)
class Grab:
    """What the screen gave for one frame, before anything is decided about it."""

    before: WindowSnapshot
    """The windows as they stood when the grab began."""
    after: WindowSnapshot | None = None
    """The windows once the pixels were read; None when nothing was read."""
    pixels: Pixels | None = None
    """The on-screen part of the business window (BGRA), as the screen showed it. The frame
    may be made in this very buffer (blacked out in place): the grab hands it over."""


@dataclass(frozen=True, slots=True)
class MaskedFrame:
    pixels: Pixels
    """Height x width x 4 (BGRA); every pixel not kept is zero."""
    snapshot: WindowSnapshot
    blank_reason: BlankReason | None = None
    """Why the whole frame is black, apart from a pause."""
    covered: bool = False
    """Some of the business window lay under another window (those pixels are black)."""

    @property
    def blackout(self) -> BlankReason | None:
        """Why some or all of the frame is black, for the recording's metadata."""
        if self.blank_reason is not None:
            return self.blank_reason
        return BlankReason.COVERED if self.covered else None


@dataclass(frozen=True, slots=True)
class KeptPixels:
    """The policy for every frame: fixed redaction areas and the payment title pattern."""

    redactions: tuple[Rect, ...] = ()
    """Relative to the window's top-left corner: fields policy never lets be seen."""
    payment_title: re.Pattern[str] | None = None

    def payment_seen(self, grab: Grab) -> bool:
        """Whether the payment pattern matched the window's title at either end of the grab
        (it may change while the pixels are read), whatever the window's visibility: a card
        number is read out loud even with the window minimised."""
        if self.payment_title is None:
            return False
        snapshots = (grab.before,) if grab.after is None else (grab.before, grab.after)
        return any(self.payment_title.search(snapshot.title) for snapshot in snapshots)

    def frame(self, grab: Grab, *, paused: bool, blank_size: tuple[int, int]) -> MaskedFrame:
        """The frame as kept. `blank_size` (width, height) is the size of a black frame when
        the window cannot be seen (the last size it had, so the video keeps its size).

        A frame blacked out for the payment window also pauses the recording's audio from
        the grab before it (agent/capture/pipeline.py): this is the one decision for both."""
        before = grab.before
        target = before.target
        if self.payment_seen(grab):
            visible = before.visibility is Visibility.VISIBLE and target is not None
            size = (target.width, target.height) if visible and target else blank_size
            return MaskedFrame(_black(size), before, BlankReason.PAYMENT_WINDOW)
        if before.visibility is not Visibility.VISIBLE or target is None:
            hidden = _HIDDEN_BY_VISIBILITY.get(before.visibility, BlankReason.MISSING)
            return MaskedFrame(_black(blank_size), before, hidden)
        size = (target.width, target.height)
        on_screen = target.intersection(before.screen)
        if on_screen is None:
            return MaskedFrame(_black(size), before, BlankReason.OFF_SCREEN)
        if grab.pixels is None or grab.after is None or grab.after != before:
            return MaskedFrame(_black(size), grab.after or before, BlankReason.MOVED)
        covered = any(occluder.intersection(target) for occluder in before.occluders)
        if paused:
            return MaskedFrame(_black(size), before, covered=covered)
        areas = hidden_areas(target, before.occluders, self.redactions)
        return MaskedFrame(
            black_out_areas(_placed(grab.pixels, target, on_screen), areas),
            before,
            covered=covered,
        )


def on_screen_area(snapshot: WindowSnapshot) -> Rect | None:
    """The part of the screen to read for this snapshot, or None when nothing may be read."""
    target = snapshot.target
    if snapshot.visibility is not Visibility.VISIBLE or target is None:
        return None
    return target.intersection(snapshot.screen)


def _placed(grabbed: Pixels, target: Rect, on_screen: Rect) -> Pixels:
    """The window's frame: the grab itself when the whole window was on screen (the grab is
    this frame's own buffer, so it is blacked out in place), else the grab on black."""
    if grabbed.shape != (on_screen.height, on_screen.width, 4):
        raise ValueError(
            f"the grab is {grabbed.shape}, not the {on_screen.width}x{on_screen.height} BGRA"
            " area asked for"
        )
    if on_screen == target and grabbed.flags.writeable:
        return grabbed
    pixels = np.zeros((target.height, target.width, 4), dtype=np.uint8)
    placed = on_screen.relative_to(target)
    pixels[placed.y : placed.bottom, placed.x : placed.right] = grabbed
    return pixels


def _black(size: tuple[int, int]) -> Pixels:
    width, height = size
    return np.zeros((height, width, 4), dtype=np.uint8)
