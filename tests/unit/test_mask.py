"""The occlusion mask against a brute-force, pixel-by-pixel reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.capture.geometry import Rect
from agent.capture.mask import black_out, kept_pixels_mask
from tests.helpers.rects import rects


def _inside(rect: Rect, x: int, y: int) -> bool:
    return rect.x <= x < rect.right and rect.y <= y < rect.bottom


def reference_mask(
    target: Rect, screen: Rect, occluders: list[Rect], redactions: list[Rect]
) -> np.ndarray:
    mask = np.zeros((target.height, target.width), dtype=bool)
    for row in range(target.height):
        for column in range(target.width):
            x, y = target.x + column, target.y + row
            mask[row, column] = (
                _inside(screen, x, y)
                and not any(_inside(o, x, y) for o in occluders)
                and not any(_inside(r, column, row) for r in redactions)
            )
    return mask


@settings(max_examples=300, deadline=None)
@given(
    target=rects(),
    screen=rects(),
    occluders=st.lists(rects(), max_size=6),
    redactions=st.lists(rects(20), max_size=3),
)
def test_mask_keeps_exactly_the_uncovered_on_screen_pixels(
    target: Rect, screen: Rect, occluders: list[Rect], redactions: list[Rect]
) -> None:
    mask = kept_pixels_mask(target, screen, occluders, redactions)
    assert mask.shape == (target.height, target.width)
    np.testing.assert_array_equal(mask, reference_mask(target, screen, occluders, redactions))


def test_covering_window_and_title_bar_are_blacked_out() -> None:
    target = Rect(100, 100, 400, 300)
    covering_frame = Rect(300, 50, 300, 200)  # title bar starts above the target
    mask = kept_pixels_mask(target, Rect(0, 0, 1280, 800), [covering_frame])
    assert not mask[0:150, 200:400].any()
    assert mask[150:, :].all()
    assert mask[:, :200].all()


def test_window_partly_off_screen_keeps_only_the_visible_part() -> None:
    mask = kept_pixels_mask(Rect(-50, 700, 200, 200), Rect(0, 0, 1280, 800))
    assert mask.sum() == 150 * 100
    assert mask[0:100, 50:].all()


def test_black_out_zeroes_everything_not_kept() -> None:
    pixels = np.full((4, 5, 4), 200, dtype=np.uint8)
    mask = np.zeros((4, 5), dtype=bool)
    mask[1:3, 1:4] = True
    black_out(pixels, mask)
    assert (pixels[1:3, 1:4] == 200).all()
    assert pixels[~mask].max() == 0


def test_black_out_refuses_a_mask_of_another_size() -> None:
    with pytest.raises(ValueError, match="differ in size"):
        black_out(np.zeros((4, 5, 4), dtype=np.uint8), np.zeros((5, 4), dtype=bool))


def test_negative_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        Rect(0, 0, -1, 5)
