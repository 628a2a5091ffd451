"""Converting only the rows that changed gives the planes a whole-frame conversion gives."""

from __future__ import annotations

import numpy as np
import pytest

from agent.capture.colour_conversion import ChangedRowsConverter, changed_rows


def whole_frame(bgra: np.ndarray) -> np.ndarray:
    return ChangedRowsConverter().convert(bgra).to_ndarray()


def busy_frame(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Text-like content: sharp edges and colours, where a filter's reach would show."""
    frame = np.full((height, width, 4), 255, dtype=np.uint8)
    for _ in range(40):
        y, x = rng.integers(0, height), rng.integers(0, width)
        frame[y : y + rng.integers(1, 12), x : x + rng.integers(2, 60), :3] = rng.integers(
            0, 256, 3
        )
    return frame


def test_changed_rows_finds_the_band_that_differs() -> None:
    frame = np.zeros((20, 8, 4), dtype=np.uint8)
    assert changed_rows(frame, frame.copy()) is None
    other = frame.copy()
    other[5, 7, 3] = 1  # one byte, in the last pixel of a row
    other[11, 0, 0] = 9
    assert changed_rows(other, frame) == (5, 12)


@pytest.mark.parametrize(("height", "width"), [(720, 1280), (94, 126), (202, 34), (4, 2)])
def test_each_frame_comes_out_as_a_whole_frame_conversion(height: int, width: int) -> None:
    rng = np.random.default_rng(7)
    converter = ChangedRowsConverter()
    frame = busy_frame(rng, height, width)
    for step in range(24):
        frame = frame.copy()
        top = int(rng.integers(0, height))
        rows = int(rng.integers(1, max(2, height // 3)))
        if step % 4 == 0:
            frame[top : top + 1, int(rng.integers(0, width)), :3] ^= 0x5A  # one odd row
        else:
            frame[top : top + rows] = busy_frame(rng, height, width)[top : top + rows]
        assert np.array_equal(converter.convert(frame).to_ndarray(), whole_frame(frame)), step


def test_an_unchanged_frame_comes_out_again_as_a_new_frame() -> None:
    rng = np.random.default_rng(3)
    converter = ChangedRowsConverter()
    frame = busy_frame(rng, 64, 64)
    first = converter.convert(frame)
    again = converter.convert(frame.copy())
    assert again is not first
    assert np.array_equal(again.to_ndarray(), first.to_ndarray())


def test_a_new_size_is_converted_whole() -> None:
    rng = np.random.default_rng(5)
    converter = ChangedRowsConverter()
    converter.convert(busy_frame(rng, 64, 64))
    larger = busy_frame(rng, 96, 128)
    assert np.array_equal(converter.convert(larger).to_ndarray(), whole_frame(larger))
