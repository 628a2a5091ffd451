"""The one decision about which pixels of a grab are kept (agent/capture/kept_pixels.py).

Pure: synthetic window snapshots and pixels in, the kept frame and its reason out.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.capture.geometry import Rect
from agent.capture.kept_pixels import Grab, KeptPixels, MaskedFrame, on_screen_area
from agent.capture.mask import black_out, kept_pixels_mask
from agent.capture.window.base import Visibility, WindowSnapshot
from protocol.recording_vocabulary import BlankReason
from tests.helpers.rects import rects

SCREEN = Rect(0, 0, 800, 600)
TARGET = Rect(100, 100, 200, 100)
BLANK_SIZE = (64, 48)


def snapshot(
    visibility: Visibility = Visibility.VISIBLE,
    *,
    target: Rect | None = TARGET,
    occluders: tuple[Rect, ...] = (),
    title: str = "CRM - Orders",
) -> WindowSnapshot:
    return WindowSnapshot(visibility, SCREEN, target, occluders, title, 7)


def grab_of(before: WindowSnapshot, after: WindowSnapshot | None = None) -> Grab:
    """A grab that read the window's on-screen part: all white."""
    area = on_screen_area(before)
    if area is None:
        return Grab(before)
    pixels = np.full((area.height, area.width, 4), 255, dtype=np.uint8)
    return Grab(before, before if after is None else after, pixels)


KEPT = KeptPixels(payment_title=re.compile(r"(?i)payment"))


def kept(grab: Grab, *, paused: bool = False) -> MaskedFrame:
    return KEPT.frame(grab, paused=paused, blank_size=BLANK_SIZE)


def test_a_plainly_visible_window_is_kept_whole() -> None:
    frame = kept(grab_of(snapshot()))
    assert frame.pixels.shape == (TARGET.height, TARGET.width, 4)
    assert frame.pixels.min() == 255
    assert frame.blank_reason is None
    assert frame.blackout is None


def test_a_covering_window_is_black_and_the_frame_says_covered() -> None:
    cover = Rect(150, 120, 60, 40)
    frame = kept(grab_of(snapshot(occluders=(cover,))))
    hidden = cover.relative_to(TARGET)
    assert frame.pixels[hidden.y : hidden.bottom, hidden.x : hidden.right].max() == 0
    assert int((frame.pixels[:, :, 0] == 255).sum()) == TARGET.width * TARGET.height - 60 * 40
    assert frame.blank_reason is None
    assert frame.blackout is BlankReason.COVERED


def test_a_window_partly_off_screen_keeps_only_its_on_screen_part() -> None:
    target = Rect(700, 550, 200, 100)
    frame = kept(grab_of(snapshot(target=target)))
    assert frame.pixels.shape == (100, 200, 4)
    assert frame.pixels[:50, :100].min() == 255
    assert frame.pixels[50:, :].max() == 0
    assert frame.pixels[:, 100:].max() == 0


@pytest.mark.parametrize(
    ("visibility", "reason"),
    [
        (Visibility.MINIMISED, BlankReason.MINIMISED),
        (Visibility.UNMAPPED, BlankReason.HIDDEN),
        (Visibility.OFF_SCREEN, BlankReason.OFF_SCREEN),
        (Visibility.MISSING, BlankReason.MISSING),
    ],
)
def test_a_window_not_plainly_visible_is_never_read(
    visibility: Visibility, reason: BlankReason
) -> None:
    before = snapshot(visibility, target=None if visibility is Visibility.MISSING else TARGET)
    assert on_screen_area(before) is None
    frame = kept(Grab(before))
    assert frame.pixels.shape == (BLANK_SIZE[1], BLANK_SIZE[0], 4)
    assert frame.pixels.max() == 0
    assert frame.blank_reason is reason


def test_a_window_wholly_off_screen_is_black() -> None:
    before = snapshot(target=Rect(900, 700, 50, 50))
    assert on_screen_area(before) is None
    frame = kept(Grab(before))
    assert frame.pixels.max() == 0
    assert frame.blank_reason is BlankReason.OFF_SCREEN


def test_anything_that_moved_during_the_grab_blacks_the_frame() -> None:
    moved = snapshot(occluders=(Rect(0, 0, 10, 10),))
    frame = kept(grab_of(snapshot(), after=moved))
    assert frame.pixels.max() == 0
    assert frame.blank_reason is BlankReason.MOVED
    assert frame.snapshot == moved


def test_a_payment_title_blacks_the_frame_from_its_first_grab() -> None:
    frame = kept(grab_of(snapshot(title="Payment - card details")))
    assert frame.pixels.max() == 0
    assert frame.blank_reason is BlankReason.PAYMENT_WINDOW


def test_a_title_that_changes_to_payment_during_the_grab_counts_as_seen() -> None:
    # The audio pause starts from the grab before the one that saw the title (pipeline.py),
    # so a title seen only once the pixels were read must not wait for the next grab.
    frame = kept(grab_of(snapshot(), after=snapshot(title="Payment - card details")))
    assert frame.blank_reason is BlankReason.PAYMENT_WINDOW


def test_a_payment_title_counts_even_on_a_minimised_window() -> None:
    # Card numbers are read out loud whether or not the window can be seen.
    frame = kept(grab_of(snapshot(Visibility.MINIMISED, title="Payment - card details")))
    assert frame.blank_reason is BlankReason.PAYMENT_WINDOW
    assert frame.pixels.shape[:2] == (BLANK_SIZE[1], BLANK_SIZE[0])


def test_paused_frames_are_black_but_keep_the_window_facts() -> None:
    frame = kept(grab_of(snapshot(occluders=(Rect(150, 120, 60, 40),))), paused=True)
    assert frame.pixels.shape == (TARGET.height, TARGET.width, 4)
    assert frame.pixels.max() == 0
    assert frame.blank_reason is None  # a pause is listed as a pause, not as a blank
    assert frame.blackout is BlankReason.COVERED


def test_redaction_areas_are_black_inside_the_window() -> None:
    with_redaction = KeptPixels(redactions=(Rect(10, 20, 30, 40),))
    frame = with_redaction.frame(grab_of(snapshot()), paused=False, blank_size=BLANK_SIZE)
    assert frame.pixels[20:60, 10:40].max() == 0
    assert int((frame.pixels[:, :, 0] == 255).sum()) == TARGET.width * TARGET.height - 30 * 40


@st.composite
def window_on_screen(draw: st.DrawFn) -> tuple[Rect, Rect]:
    """A screen and a window at least partly on it (a window wholly off it is never read)."""
    screen = Rect(0, 0, draw(st.integers(1, 40)), draw(st.integers(1, 40)))
    width, height = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    x = draw(st.integers(1 - width, screen.width - 1))
    y = draw(st.integers(1 - height, screen.height - 1))
    return Rect(x, y, width, height), screen


@settings(max_examples=200, deadline=None)
@given(
    placement=window_on_screen(),
    occluders=st.lists(rects(), max_size=5),
    redactions=st.lists(rects(20), max_size=3),
    seed=st.integers(0, 2**32 - 1),
)
def test_a_kept_frame_holds_exactly_the_pixels_the_mask_keeps(
    placement: tuple[Rect, Rect], occluders: list[Rect], redactions: list[Rect], seed: int
) -> None:
    """The frame is made by zeroing rectangles (in the grab's own buffer when the whole window
    is on screen); the mask, checked pixel by pixel in test_mask.py, is the reference."""
    target, screen = placement
    snap = WindowSnapshot(Visibility.VISIBLE, screen, target, tuple(occluders), "CRM", 7)
    area = on_screen_area(snap)
    assert area is not None
    rng = np.random.default_rng(seed)
    grabbed = rng.integers(1, 256, (area.height, area.width, 4), dtype=np.uint8)
    expected = np.zeros((target.height, target.width, 4), dtype=np.uint8)
    placed = area.relative_to(target)
    expected[placed.y : placed.bottom, placed.x : placed.right] = grabbed
    black_out(expected, kept_pixels_mask(target, screen, occluders, redactions))

    frame = KeptPixels(redactions=tuple(redactions)).frame(
        Grab(snap, snap, grabbed), paused=False, blank_size=BLANK_SIZE
    )

    np.testing.assert_array_equal(frame.pixels, expected)


def test_a_grab_of_the_wrong_size_is_refused_not_stretched() -> None:
    snap = snapshot()
    wrong = np.full((TARGET.height - 1, TARGET.width, 4), 255, dtype=np.uint8)
    with pytest.raises(ValueError, match="not the 200x100 BGRA area"):
        kept(Grab(snap, snap, wrong))
