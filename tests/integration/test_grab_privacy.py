"""Invariant 3 on a real X server: stored frames hold business-window pixels and black only.

A green business window is partly covered by a magenta window (with openbox's title bar and
frame) that is moved and raised between grabs; every pixel of every grabbed frame must be the
business green or black. Minimised or closed, the business window yields black frames.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from agent.capture.geometry import Rect
from agent.capture.grab import MaskedGrabber, ScreenGrabber
from agent.capture.kept_pixels import KeptPixels, MaskedFrame
from agent.capture.window.base import WindowMatch
from agent.capture.window.factory import create_locator
from protocol.recording_vocabulary import BlankReason
from tests.helpers.counting_locator import CountingLocator
from tests.helpers.desktop import Desktop

BUSINESS = Rect(200, 150, 640, 400)
GREEN_BGRA = (0x20, 0xC0, 0x20, 0xFF)
GREEN_BGR = np.array(GREEN_BGRA[:3], dtype=np.uint8)


@pytest.fixture
def grabber(desktop: Desktop) -> Iterator[MaskedGrabber]:
    desktop.spawn_colour_window(
        geometry=BUSINESS, title="CRM - customer 1042", wm_class="Business", colour="20c020"
    )
    masked = MaskedGrabber(create_locator(WindowMatch(window_class="Business")))
    try:
        yield masked
    finally:
        masked.close()


def colours(frame: MaskedFrame) -> set[tuple[int, int, int]]:
    bgr = frame.pixels[:, :, :3].reshape(-1, 3)
    return {tuple(int(v) for v in c) for c in np.unique(bgr, axis=0)}  # type: ignore[misc]


def green_pixels(frame: MaskedFrame) -> int:
    return int(np.all(frame.pixels[:, :, :3] == GREEN_BGR, axis=2).sum())


def test_covering_window_never_appears_while_moved_and_raised(
    desktop: Desktop, grabber: MaskedGrabber
) -> None:
    first = grabber.grab()
    assert first.blank_reason is None
    assert first.pixels.shape == (BUSINESS.height, BUSINESS.width, 4)
    assert green_pixels(first) == BUSINESS.width * BUSINESS.height
    cover = desktop.spawn_colour_window(
        geometry=Rect(600, 300, 400, 300), title="Personal chat", wm_class="Chat"
    )
    positions = [(150, 100), (400, 200), (700, 450), (100, 500), (300, 120), (600, 300)]
    green_counts = []
    frames = 0
    for step, (x, y) in enumerate(positions * 2):
        desktop.move(cover, x, y)
        if step % 3 == 1:
            desktop.raise_window(cover)
        for _ in range(3):
            frame = grabber.grab()
            frames += 1
            assert colours(frame) <= {GREEN_BGRA[:3], (0, 0, 0)}, (
                f"frame {frames} holds pixels of another window: {sorted(colours(frame))[:5]}"
            )
            green_counts.append(green_pixels(frame))
    # Not vacuous: most frames show the business window, partly covered.
    assert sum(1 for count in green_counts if count > 0) > frames // 2
    assert min(green_counts) < BUSINESS.width * BUSINESS.height


class ChangingScreen(ScreenGrabber):
    """Reads the pixels, then changes the desktop as a user might in that instant."""

    def __init__(self, change: Callable[[], object]) -> None:
        super().__init__()
        self.change: Callable[[], object] | None = change

    def grab(self, area: Rect) -> np.ndarray:
        pixels = super().grab(area)
        if self.change is not None:
            change, self.change = self.change, None
            change()
        return pixels


def test_a_still_desktop_takes_one_snapshot_per_frame(desktop: Desktop) -> None:
    """The X server's events stand for the second snapshot while nothing moves during a grab;
    a change between frames is in the next frame's own snapshot."""
    desktop.spawn_colour_window(
        geometry=BUSINESS, title="CRM - customer 7", wm_class="Still", colour="20c020"
    )
    counting = CountingLocator(create_locator(WindowMatch(window_class="Still")))
    still = MaskedGrabber(counting)
    try:
        still.grab()  # the first frame starts watching the window: two snapshots
        counting.snapshots = 0
        for _ in range(10):
            assert still.grab().blank_reason is None
        # Two per frame before; a stray event of the window manager may cost one more.
        assert counting.snapshots <= 12, f"{counting.snapshots} snapshots for 10 frames"
        cover = desktop.spawn_colour_window(
            geometry=Rect(700, 450, 200, 150), title="Chat", wm_class="Chat"
        )
        desktop.move(cover, 720, 460)
        frame = still.grab()
        assert frame.covered
        assert colours(frame) <= {GREEN_BGRA[:3], (0, 0, 0)}
    finally:
        still.close()


def test_a_cover_moved_while_the_pixels_are_read_blackens_the_frame(desktop: Desktop) -> None:
    """Damage-free: the business window does not repaint, only the cover's move tells."""
    business = desktop.spawn_colour_window(
        geometry=BUSINESS, title="CRM - customer 8", wm_class="Moving", colour="20c020"
    )
    cover = desktop.spawn_colour_window(
        geometry=Rect(1000, 650, 200, 100), title="Chat", wm_class="Chat"
    )
    del business
    screen = ChangingScreen(lambda: desktop.move(cover, 300, 250))
    moving = MaskedGrabber(create_locator(WindowMatch(window_class="Moving")), screen)
    try:
        moving.grab()  # watching begins
        screen.change = lambda: desktop.move(cover, 320, 260)
        frame = moving.grab()
        assert frame.blank_reason is BlankReason.MOVED
        assert frame.pixels.max() == 0
        after = moving.grab()  # the cover now lies over the window: masked, never shown
        assert after.covered
        assert colours(after) <= {GREEN_BGRA[:3], (0, 0, 0)}
    finally:
        moving.close()


def test_a_payment_title_set_while_the_pixels_are_read_blackens_the_frame(
    desktop: Desktop,
) -> None:
    business = desktop.spawn_colour_window(
        geometry=BUSINESS, title="CRM - customer 9", wm_class="Paying", colour="20c020"
    )
    screen = ChangingScreen(lambda: None)
    paying = MaskedGrabber(
        create_locator(WindowMatch(window_class="Paying")),
        screen,
        kept=KeptPixels(payment_title=re.compile("Card payment")),
    )
    try:
        assert paying.grab().blank_reason is None
        assert paying.grab().blank_reason is None
        screen.change = lambda: desktop.set_title(business, "CRM - Card payment")
        frame = paying.grab()
        assert frame.blank_reason is BlankReason.PAYMENT_WINDOW
        assert frame.pixels.max() == 0
    finally:
        paying.close()


def test_redaction_areas_are_black(desktop: Desktop) -> None:
    desktop.spawn_colour_window(
        geometry=BUSINESS, title="CRM - card form", wm_class="Business", colour="20c020"
    )
    grabber = MaskedGrabber(
        create_locator(WindowMatch(window_class="Business")),
        kept=KeptPixels(redactions=(Rect(10, 20, 100, 50),)),
    )
    try:
        frame = grabber.grab()
    finally:
        grabber.close()
    assert frame.pixels[20:70, 10:110, :3].max() == 0
    assert green_pixels(frame) == BUSINESS.width * BUSINESS.height - 100 * 50


def test_minimised_or_closed_business_window_gives_black_frames(
    desktop: Desktop, grabber: MaskedGrabber
) -> None:
    business = desktop.spawn_colour_window(
        geometry=Rect(100, 100, 320, 200), title="CRM - other", wm_class="Other"
    )
    del business
    visible = grabber.grab()
    assert visible.blank_reason is None
    window = next(w for w in desktop._windows if w.title.startswith("CRM - customer"))
    desktop.minimise(window)
    minimised = grabber.grab()
    assert minimised.blank_reason is BlankReason.MINIMISED
    assert minimised.pixels.max() == 0
    assert minimised.pixels.shape == visible.pixels.shape
    desktop.close(window)
    closed = grabber.grab()
    assert closed.blank_reason is BlankReason.MISSING
    assert closed.pixels.max() == 0
