"""A segment that never reached the vault is marked with the rest of its keyframe group, which
players skip with it (protocol/segments/keyframes.py)."""

from __future__ import annotations

import uuid

from protocol.recording_metadata import view_of
from tests.helpers.synthetic_recording import gapless_metadata
from vault.gap_markers import MarkerKind, gap_markers


def test_a_missing_segment_marks_the_rest_of_its_group() -> None:
    (marker,) = gap_markers(None, [3], default_segment_s=10.0)
    assert marker.kind is MarkerKind.MISSING
    assert (marker.start_s, marker.end_s) == (30.0, 60.0)
    assert "segment 3 never reached the vault" in marker.label
    assert "segments 4 to 5 cannot play without it" in marker.label


def test_a_missing_last_segment_of_a_group_marks_itself_only() -> None:
    (marker,) = gap_markers(None, [11], default_segment_s=2.0)
    assert (marker.start_s, marker.end_s) == (22.0, 24.0)
    assert marker.label == "Not received: media segment 11 never reached the vault"


def test_the_marked_group_ends_with_the_recording() -> None:
    metadata = view_of(gapless_metadata(uuid.uuid4(), segment_seconds=10.0, media_segments=5))
    (marker,) = gap_markers(metadata, [2], default_segment_s=10.0)
    assert (marker.start_s, marker.end_s) == (20.0, 50.0)
    assert "segments 3 to 4 cannot play" in marker.label
