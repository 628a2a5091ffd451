"""Which segments open with a keyframe: the agent's choice always includes the segments every
player relies on, and keyframes stay at most a minute apart."""

from __future__ import annotations

import itertools

import pytest

from protocol.segments.keyframes import (
    KEYFRAME_EVERY_SEGMENTS,
    MAX_KEYFRAME_SPACING_S,
    opens_with_keyframe,
    segments_per_keyframe,
)


@pytest.mark.parametrize(
    ("segment_seconds", "apart"),
    [(10.0, 6), (2.0, 6), (0.5, 6), (15.0, 3), (20.0, 3), (25.0, 2), (30.0, 2), (45.0, 1),
     (60.0, 1), (600.0, 1)],
)  # fmt: skip
def test_keyframes_are_as_far_apart_as_a_minute_allows(segment_seconds: float, apart: int) -> None:
    assert segments_per_keyframe(segment_seconds) == apart


@pytest.mark.parametrize("segment_seconds", [0.25, 1.0, 7.0, 10.0, 12.0, 19.9, 33.0, 61.0])
def test_every_segment_players_rely_on_opens_with_a_keyframe(segment_seconds: float) -> None:
    opened = [i for i in range(200) if opens_with_keyframe(i, segment_seconds)]
    assert opened[0] == 0
    assert set(range(0, 200, KEYFRAME_EVERY_SEGMENTS)) <= set(opened)
    longest = max(b - a for a, b in itertools.pairwise(opened)) * segment_seconds
    assert longest <= max(MAX_KEYFRAME_SPACING_S, segment_seconds)


def test_a_length_that_is_not_positive_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        segments_per_keyframe(0.0)
