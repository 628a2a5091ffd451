"""The recording metadata segment's versions: this one round-trips, the one before reads with
what it lacked as unknown, a newer one is shown as unknown rather than refused, and anything
else is refused with the reason."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from protocol.recording_metadata import (
    MAX_METADATA_BYTES,
    METADATA_VERSION,
    BlankSpan,
    ConsentRecord,
    MetadataError,
    PauseSpan,
    RecordingMetadata,
    parse_metadata,
)
from protocol.recording_vocabulary import BlankReason, ConsentDecision, ConsentMode, PauseSource

RECORDING = uuid.UUID(int=42)

# Exactly what release 0.1's pipeline wrote (agent/capture/pipeline.py::_store_metadata then).
VERSION_1 = {
    "recording_id": str(RECORDING),
    "segment_seconds": 10.0,
    "segments": 4,
    "pauses": [[1.5, 3.0], [7.25, 9.0]],
    "blank_frames": 7,
    "blank_reasons": {"business window is minimised": 5, "payment window": 2},
    "frames_dropped": 1,
    "frames_left_out": 0,
    "silence_inserted_samples": [0, 960],
}


def current() -> RecordingMetadata:
    return RecordingMetadata(
        recording_id=RECORDING,
        segment_seconds=10.0,
        media_segments=4,
        pauses=[
            PauseSpan(start_s=1.5, end_s=3.0, sources=[PauseSource.HOTKEY]),
            PauseSpan(
                start_s=7.25,
                end_s=9.0,
                sources=[PauseSource.PAYMENT_WINDOW, PauseSource.TRAY],
            ),
        ],
        blanked=[
            BlankSpan(start_s=0.0, end_s=1.0, reason=BlankReason.MINIMISED, frames=5),
            BlankSpan(start_s=2.0, end_s=2.4, reason=BlankReason.COVERED, frames=2),
            BlankSpan(start_s=4.0, end_s=4.2, reason=BlankReason.MINIMISED, frames=1),
        ],
        consent=ConsentRecord(
            mode=ConsentMode.REQUIRED,
            decision=ConsentDecision.CONFIRMED,
            by="alice",
            at=datetime(2026, 12, 3, 10, 0, tzinfo=UTC),
        ),
        frames_dropped=1,
        frames_left_out=0,
        silence_inserted_samples=[0, 960],
    )


def test_this_version_round_trips_and_shows_everything() -> None:
    written = current()
    assert json.loads(written.to_json())["version"] == METADATA_VERSION
    view = parse_metadata(written.to_json())
    assert view.version == METADATA_VERSION
    assert view.note is None
    assert view.media_segments == 4
    assert view.pauses is not None
    assert [p.sources for p in view.pauses] == [
        [PauseSource.HOTKEY],
        [PauseSource.PAYMENT_WINDOW, PauseSource.TRAY],
    ]
    assert view.blanked == written.blanked
    assert view.blank_counts is not None
    assert {(c.reason, c.frames) for c in view.blank_counts} == {
        ("covered", 2),
        ("minimised", 6),
    }
    assert view.consent == written.consent


def test_the_version_before_reads_with_what_it_lacked_unknown() -> None:
    view = parse_metadata(json.dumps(VERSION_1).encode())
    assert view.version == 1
    assert view.media_segments == 4
    assert view.pauses is not None
    assert [(p.start_s, p.end_s, p.sources) for p in view.pauses] == [
        (1.5, 3.0, None),
        (7.25, 9.0, None),
    ]
    assert view.blanked is None
    assert view.consent is None
    assert view.blank_counts is not None
    assert {(c.reason, c.frames) for c in view.blank_counts} == {
        ("business window is minimised", 5),
        ("payment window", 2),
    }
    assert view.note is not None
    assert "unknown" in view.note


def test_a_newer_version_is_shown_as_unknown_not_refused() -> None:
    newer = {**json.loads(current().to_json()), "version": METADATA_VERSION + 1, "more": [1]}
    view = parse_metadata(json.dumps(newer).encode())
    assert view.version == METADATA_VERSION + 1
    assert view.pauses is None
    assert view.media_segments is None
    assert view.note is not None
    assert "upgrade the vault" in view.note


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"version": "2"}', "not a version number"),
        (b'{"version": 0}', "not a version number"),
        (b'{"version": 2, "recording_id": "x"}', "does not fit its format"),
        (json.dumps({**VERSION_1, "segments": -1}).encode(), "does not fit its format"),
        (
            json.dumps({**json.loads(current().to_json()), "extra": 1}).encode(),
            "does not fit its format",
        ),
        (b" " * (MAX_METADATA_BYTES + 1), "more than"),
    ],
)
def test_anything_else_is_refused_with_the_reason(data: bytes, message: str) -> None:
    with pytest.raises(MetadataError, match=message):
        parse_metadata(data)
