"""Frames are read only when something changed (agent/capture/grab.py), on a real X server.

While the business window neither draws nor moves and nothing moves around it, the grabber
keeps its previous frame without reading the screen. Whatever the window draws (in itself or
in a subwindow, with no window moving) is read at the next frame, and so is any window moving
over it, which is masked as ever.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from agent.capture.geometry import Rect
from agent.capture.grab import MaskedGrabber, ScreenGrabber
from agent.capture.kept_pixels import MaskedFrame
from agent.capture.mask import Pixels
from agent.capture.window.base import WindowMatch
from agent.capture.window.factory import create_locator
from protocol.recording_vocabulary import BlankReason
from tests.helpers.desktop import Desktop, SpawnedWindow

BUSINESS = Rect(200, 150, 480, 300)
GREEN = 0x20C020
RED = 0xE01010
FRAMES = 10


class CountingScreen(ScreenGrabber):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def grab(self, area: Rect) -> Pixels:
        self.reads += 1
        return super().grab(area)


@pytest.fixture
def business(desktop: Desktop) -> SpawnedWindow:
    return desktop.spawn_colour_window(
        geometry=BUSINESS, title="CRM - customer 11", wm_class="Still", colour=f"{GREEN:06x}"
    )


@pytest.fixture
def screen() -> CountingScreen:
    return CountingScreen()


@pytest.fixture
def grabber(business: SpawnedWindow, screen: CountingScreen) -> Iterator[MaskedGrabber]:
    del business
    masked = MaskedGrabber(create_locator(WindowMatch(window_class="Still")), screen)
    try:
        yield masked
    finally:
        masked.close()


def settle(grabber: MaskedGrabber) -> MaskedFrame:
    """Grab until a frame is kept rather than read (a change was seen, then the frame after)."""
    frame = grabber.grab()
    for _ in range(5):
        following = grabber.grab()
        if following is frame:
            return frame
        frame = following
    raise AssertionError("the grabber kept reading a window that neither moved nor drew")


def red_pixels(frame: MaskedFrame) -> int:
    red_bgr = np.array([RED & 0xFF, (RED >> 8) & 0xFF, RED >> 16], dtype=np.uint8)
    return int(np.all(frame.pixels[:, :, :3] == red_bgr, axis=2).sum())


def test_a_still_window_is_read_once_then_kept(
    grabber: MaskedGrabber, screen: CountingScreen
) -> None:
    first = settle(grabber)
    reads = screen.reads
    frames = [grabber.grab() for _ in range(FRAMES)]
    assert screen.reads == reads, f"{screen.reads - reads} reads for {FRAMES} still frames"
    assert all(frame is first for frame in frames)
    assert first.blank_reason is None
    # The first check starts the damage watch, the next snapshot picks the window, its first
    # check sees it as new, and the frame after a change is read once more.
    assert reads <= 4, f"{reads} reads before the window was taken as still"


def test_what_the_window_draws_is_read_at_the_next_frame(
    desktop: Desktop, business: SpawnedWindow, grabber: MaskedGrabber
) -> None:
    still = settle(grabber)
    assert red_pixels(still) == 0
    desktop.paint(business, Rect(10, 20, 30, 40), RED)
    drawn = grabber.grab()
    assert red_pixels(drawn) == 30 * 40
    assert drawn.pixels[20:60, 10:40, 2].min() == RED >> 16


def test_what_a_subwindow_draws_is_read_at_the_next_frame(
    desktop: Desktop, business: SpawnedWindow, grabber: MaskedGrabber
) -> None:
    widget = desktop.add_subwindow(business, Rect(100, 50, 60, 30), GREEN)
    still = settle(grabber)
    assert red_pixels(still) == 0
    desktop.paint(business, Rect(0, 0, 60, 30), RED, inside=widget)
    drawn = grabber.grab()
    assert red_pixels(drawn) == 60 * 30
    assert drawn.pixels[50:80, 100:160, 2].min() == RED >> 16


def test_a_cover_moved_over_a_still_window_is_masked_at_the_next_frame(
    desktop: Desktop, grabber: MaskedGrabber
) -> None:
    cover = desktop.spawn_colour_window(
        geometry=Rect(900, 600, 200, 120), title="Chat", wm_class="Chat", colour="ff00ff"
    )
    uncovered = settle(grabber)
    assert not uncovered.covered
    desktop.move(cover, 300, 250)  # over the window, which has nothing to redraw
    covered = grabber.grab()
    assert covered is not uncovered
    assert covered.covered
    colours = {
        tuple(int(v) for v in c) for c in np.unique(covered.pixels[:, :, :3].reshape(-1, 3), axis=0)
    }
    assert colours <= {(0x20, 0xC0, 0x20), (0, 0, 0)}, f"another window's pixels: {colours}"


class MovingScreen(CountingScreen):
    """Reads the pixels, then moves a window once, as a user might in that instant."""

    def __init__(self, desktop: Desktop) -> None:
        super().__init__()
        self.desktop = desktop
        self.cover: SpawnedWindow | None = None

    def grab(self, area: Rect) -> Pixels:
        pixels = super().grab(area)
        if self.cover is not None:
            cover, self.cover = self.cover, None
            self.desktop.move(cover, 320, 260)
        return pixels


def test_a_frame_blackened_for_a_move_is_not_kept(
    desktop: Desktop, business: SpawnedWindow
) -> None:
    """The move was seen during the grab, so no event is left for the next check: the
    grabber itself must not keep that frame. The cover is a bare (override-redirect) window,
    so no window manager sends anything after the move."""
    cover = desktop.spawn_colour_window(
        geometry=Rect(900, 600, 200, 120),
        title="Tooltip",
        wm_class="Tooltip",
        override_redirect=True,
    )
    screen = MovingScreen(desktop)
    moving = MaskedGrabber(create_locator(WindowMatch(window_class="Still")), screen)
    try:
        settle(moving)
        # Retitled (not drawn, which would also have the frame after it read): read next.
        desktop.set_title(business, "CRM - customer 12")
        screen.cover = cover
        assert moving.grab().blank_reason is BlankReason.MOVED
        reads = screen.reads
        after = moving.grab()
        assert screen.reads == reads + 1, "the blackened frame was kept instead of read"
        assert after.covered
        assert after.pixels.max() > 0
    finally:
        moving.close()


def test_a_pause_is_never_answered_with_the_frame_from_before_it(
    grabber: MaskedGrabber, screen: CountingScreen
) -> None:
    shown = settle(grabber)
    assert shown.pixels.max() > 0
    paused = grabber.grab(paused=True)
    assert paused.pixels.max() == 0
    assert grabber.grab(paused=True).pixels.max() == 0
    reads = screen.reads
    resumed = grabber.grab(paused=False)
    assert screen.reads == reads + 1
    assert np.array_equal(resumed.pixels, shown.pixels)


def test_a_minimised_still_window_stays_black_until_restored(
    desktop: Desktop, business: SpawnedWindow, grabber: MaskedGrabber
) -> None:
    settle(grabber)
    desktop.minimise(business)
    black = settle(grabber)
    assert black.pixels.max() == 0
    assert all(grabber.grab() is black for _ in range(3))
