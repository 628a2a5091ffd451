"""Where the windows are, kept from the X server's events (agent/capture/window/x11.py).

A window that draws but does not move is read at every frame without asking the server where
every window is again: the last snapshot stands while no event says anything moved. Whatever
moves (a cover, the window itself, a retitle) makes the next snapshot ask afresh, and a grab
that relied on the old one is masked or blackened as ever.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from agent.capture.geometry import Rect
from agent.capture.grab import MaskedGrabber, ScreenGrabber
from agent.capture.window.base import Visibility, WindowMatch, WindowSnapshot
from agent.capture.window.x11 import SNAPSHOT_REUSE_S, X11WindowLocator
from testbed.waiting import wait_for
from tests.helpers.desktop import Desktop, SpawnedWindow

BUSINESS = Rect(200, 150, 480, 300)
GREEN = 0x20C020
RED = 0xE01010
BLUE = 0x2020E0


@pytest.fixture
def business(desktop: Desktop) -> SpawnedWindow:
    return desktop.spawn_colour_window(
        geometry=BUSINESS, title="CRM - customer 11", wm_class="Tracked", colour=f"{GREEN:06x}"
    )


@pytest.fixture
def locator(business: SpawnedWindow) -> Iterator[X11WindowLocator]:
    del business
    tracked = X11WindowLocator(WindowMatch(window_class="Tracked"))
    try:
        yield tracked
    finally:
        tracked.close()


def settled_snapshot(locator: X11WindowLocator) -> WindowSnapshot:
    """A snapshot once the locator watches every window it relies on and the window's damage
    (the first snapshot starts watching them, so it cannot stand for the next)."""
    locator.snapshot()  # connects
    locator.unchanged_since_last_check()  # starts following the damage from the next one
    locator.snapshot()
    locator.changed_since_snapshot()
    return wait_for(
        lambda: (snapshot := locator.snapshot()) is locator.snapshot() and snapshot,
        what="a snapshot to stand for the next one",
    )


def test_a_window_that_draws_without_moving_keeps_its_snapshot(
    desktop: Desktop, business: SpawnedWindow, locator: X11WindowLocator
) -> None:
    snapshot = settled_snapshot(locator)
    for colour in (RED, BLUE, RED):
        desktop.paint(business, Rect(10, 20, 30, 40), colour)
        assert not locator.unchanged_since_last_check(), "the drawing was not seen"
        assert locator.snapshot() is snapshot, "the server was asked again for a drawing"
        assert not locator.changed_since_snapshot()


def test_a_cover_moving_makes_the_next_snapshot_ask_again(
    desktop: Desktop, business: SpawnedWindow, locator: X11WindowLocator
) -> None:
    cover = desktop.spawn_colour_window(
        geometry=Rect(900, 600, 200, 120), title="Chat", wm_class="Chat", colour="ff00ff"
    )
    snapshot = settled_snapshot(locator)
    assert snapshot.occluders == ()
    desktop.paint(business, Rect(10, 20, 30, 40), RED)
    desktop.move(cover, 300, 250)
    # Asked before the events are read, as a grab does: the answer may be the old snapshot,
    # and then the check after the pixels says so.
    before = locator.snapshot()
    assert before is not snapshot or locator.changed_since_snapshot()
    after = locator.snapshot()
    assert after is not snapshot
    assert after.occluders, "the cover moved over the window is not in the new snapshot"


def test_the_window_moving_makes_the_next_snapshot_ask_again(
    desktop: Desktop, business: SpawnedWindow, locator: X11WindowLocator
) -> None:
    snapshot = settled_snapshot(locator)
    x, y = desktop.move(business, 320, 260)
    assert locator.changed_since_snapshot()
    moved = locator.snapshot()
    assert moved is not snapshot
    assert moved.target is not None
    assert (moved.target.x, moved.target.y) == (x, y)


def test_a_retitle_makes_the_next_snapshot_ask_again(
    desktop: Desktop, business: SpawnedWindow, locator: X11WindowLocator
) -> None:
    settled_snapshot(locator)
    desktop.set_title(business, "CRM - customer 12")
    assert locator.changed_since_snapshot()
    assert locator.snapshot().title == "CRM - customer 12"


def test_minimising_makes_the_next_snapshot_ask_again(
    desktop: Desktop, business: SpawnedWindow, locator: X11WindowLocator
) -> None:
    settled_snapshot(locator)
    desktop.minimise(business)
    wait_for(locator.changed_since_snapshot, what="the minimise to be seen")
    assert locator.snapshot().visibility is Visibility.MINIMISED


def test_a_snapshot_stands_for_a_second_at_most(locator: X11WindowLocator) -> None:
    snapshot = settled_snapshot(locator)
    wait_for(
        lambda: locator.snapshot() is not snapshot,
        what="the snapshot to be taken afresh",
        timeout=SNAPSHOT_REUSE_S + 2,
    )


def test_a_cover_moved_over_a_drawing_window_is_masked_at_the_next_frame(
    desktop: Desktop, business: SpawnedWindow
) -> None:
    cover = desktop.spawn_colour_window(
        geometry=Rect(900, 600, 200, 120), title="Chat", wm_class="Chat", colour="ff00ff"
    )
    grabber = MaskedGrabber(X11WindowLocator(WindowMatch(window_class="Tracked")), ScreenGrabber())
    try:
        for colour in (RED, BLUE, RED, BLUE):  # drawing every frame: read every frame
            desktop.paint(business, Rect(10, 20, 30, 40), colour)
            assert not grabber.grab().covered
        desktop.paint(business, Rect(10, 20, 30, 40), RED)
        desktop.move(cover, 300, 250)
        covered = grabber.grab()
        assert covered.covered or covered.blank_reason is not None
        colours = {
            tuple(int(v) for v in c)
            for c in np.unique(covered.pixels[:, :, :3].reshape(-1, 3), axis=0)
        }
        allowed = {(0x20, 0xC0, 0x20), (0x10, 0x10, 0xE0), (0, 0, 0)}
        assert colours <= allowed, f"another window's pixels: {colours - allowed}"
        assert grabber.grab().covered
    finally:
        grabber.close()
