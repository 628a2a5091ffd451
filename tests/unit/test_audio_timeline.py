"""Audio blocks land on the sample timeline by capture time; gaps become silence."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.capture.audio.timeline import ChannelTimeline, interleave

RATE = 1000


def block(value: int, length: int) -> np.ndarray:
    return np.full(length, value, dtype=np.int16)


def test_contiguous_blocks_are_appended() -> None:
    timeline = ChannelTimeline(RATE, start_time=100.0)
    timeline.add(100.0, block(1, 10))
    timeline.add(100.010, block(2, 10))
    assert list(timeline.take(20)) == [1] * 10 + [2] * 10
    assert timeline.silence_inserted == 0


def test_a_late_start_is_preceded_by_silence() -> None:
    timeline = ChannelTimeline(RATE, start_time=100.0)
    timeline.add(102.0, block(7, 5))
    out = timeline.take(2005)
    assert (out[:2000] == 0).all()
    assert list(out[2000:]) == [7] * 5
    assert timeline.silence_inserted == 2000


def test_jitter_within_tolerance_keeps_blocks_contiguous() -> None:
    timeline = ChannelTimeline(RATE, start_time=0.0, jitter_s=0.02)
    timeline.add(0.0, block(1, 100))
    timeline.add(0.115, block(2, 100))  # 15 ms late: jitter, not a gap
    timeline.add(0.190, block(3, 100))  # 10 ms early: jitter, not an overlap
    assert len(timeline.take(300)) == 300
    assert timeline.silence_inserted == 0
    assert timeline.samples_dropped == 0


def test_overlap_beyond_tolerance_is_dropped() -> None:
    timeline = ChannelTimeline(RATE, start_time=0.0)
    timeline.add(0.0, block(1, 100))
    timeline.add(0.050, block(2, 100))  # claims to start 50 samples back
    out = timeline.take(150)
    assert list(out) == [1] * 100 + [2] * 50
    assert timeline.samples_dropped == 50


def test_take_pads_with_silence_and_later_blocks_stay_in_place() -> None:
    timeline = ChannelTimeline(RATE, start_time=0.0)
    timeline.add(0.0, block(1, 10))
    assert list(timeline.take(20)) == [1] * 10 + [0] * 10
    timeline.add(0.020, block(2, 10))
    assert list(timeline.take(30)) == [2] * 10


@settings(max_examples=200, deadline=None)
@given(
    starts=st.lists(st.floats(0, 5, allow_nan=False), min_size=1, max_size=20),
    lengths=st.lists(st.integers(0, 300), min_size=20, max_size=20),
    cut=st.integers(0, 8000),
)
def test_two_sources_always_yield_equal_lengths(
    starts: list[float], lengths: list[int], cut: int
) -> None:
    """Whatever arrives when, both channels hand out exactly the span asked for."""
    left, right = ChannelTimeline(RATE, 0.0), ChannelTimeline(RATE, 0.0)
    for start, length in zip(sorted(starts), lengths, strict=False):
        left.add(start, block(1, length))
        right.add(start * 1.5, block(2, length))
    stereo = interleave(left.take(cut), right.take(cut))
    assert stereo.shape == (cut, 2)


def test_interleave_refuses_unequal_channels() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        interleave(block(0, 3), block(0, 4))
