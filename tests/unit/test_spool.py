"""Spool behaviour: durable put, acknowledgement by hash, limits, recovery of each leftover."""

from __future__ import annotations

import hashlib
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.spool.spool import (
    RecordingState,
    Spool,
    SpoolCorruptError,
    SpoolError,
    SpoolFullError,
)
from protocol.keys import VaultIdentity
from protocol.segments.format import MediaType
from protocol.segments.seal import RecordingSealer

RECIPIENT = VaultIdentity.generate().recipient


def sealed_segments(
    count: int, size: int = 5000, recording: uuid.UUID | None = None
) -> list[bytes]:
    sealer = RecordingSealer(RECIPIENT, recording or uuid.uuid4())
    return [sealer.seal(i, MediaType.MATROSKA, bytes([i % 256]) * size) for i in range(count)]


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Spool]:
    with Spool(tmp_path / "spool", min_free_bytes=0) as opened:
        yield opened


def test_put_names_by_hash_and_lists_in_order(spool: Spool) -> None:
    segments = sealed_segments(3)
    stored = [spool.put(data) for data in segments]
    assert [s.sha256 for s in spool.pending()] == [hashlib.sha256(d).hexdigest() for d in segments]
    for entry, data in zip(stored, segments, strict=True):
        assert (spool.root / "segments" / f"{entry.sha256}.seg").read_bytes() == data
        assert spool.read(entry) == data
    assert [s.segment_index for s in stored] == [0, 1, 2]
    assert spool.status().pending_segments == 3
    assert spool.status().pending_bytes == sum(map(len, segments))


def test_put_is_idempotent_and_refuses_a_different_body_at_the_same_place(spool: Spool) -> None:
    recording = uuid.uuid4()
    (data,) = sealed_segments(1, recording=recording)
    assert spool.put(data) == spool.put(data)
    assert len(spool.pending()) == 1
    (other,) = sealed_segments(1, recording=recording)
    with pytest.raises(SpoolError, match="already spooled with different content"):
        spool.put(other)
    assert len(spool.pending()) == 1


def test_refuses_anything_that_is_not_a_sealed_segment(spool: Spool) -> None:
    with pytest.raises(SpoolError, match="not a sealed segment"):
        spool.put(b"\x1a\x45\xdf\xa3" + b"\x00" * 4000)
    assert list((spool.root / "segments").iterdir()) == []
    assert spool.pending() == []


def test_acknowledge_removes_only_the_named_segment(spool: Spool) -> None:
    first, second = (spool.put(d) for d in sealed_segments(2))
    spool.acknowledge(first.sha256)
    assert [s.sha256 for s in spool.pending()] == [second.sha256]
    assert not (spool.root / "segments" / f"{first.sha256}.seg").exists()
    with pytest.raises(SpoolError, match="matches no spooled segment"):
        spool.acknowledge("0" * 64)
    assert [s.sha256 for s in spool.pending()] == [second.sha256]


def test_size_limit_is_a_reported_error_and_deletes_nothing(tmp_path: Path) -> None:
    segments = sealed_segments(4, size=10_000)
    limit = sum(map(len, segments[:3]))
    with Spool(tmp_path / "spool", max_bytes=limit, min_free_bytes=0) as spool:
        kept = [spool.put(d) for d in segments[:3]]
        with pytest.raises(SpoolFullError, match="would pass its limit"):
            spool.put(segments[3])
        error = spool.status().error
        assert error is not None
        assert "spool full" in error
        assert [s.sha256 for s in spool.pending()] == [k.sha256 for k in kept]
        assert list((spool.root / "tmp").iterdir()) == []
        spool.acknowledge(kept[0].sha256)
        spool.put(segments[3])
        assert spool.status().error is None


def test_minimum_free_space_is_kept(tmp_path: Path) -> None:
    with Spool(tmp_path / "spool", min_free_bytes=2**62) as spool:
        with pytest.raises(SpoolFullError, match="bytes are free on the disk"):
            spool.put(sealed_segments(1)[0])
        assert spool.pending() == []


def test_corrupted_file_is_detected_on_read(spool: Spool) -> None:
    entry = spool.put(sealed_segments(1)[0])
    path = spool.root / "segments" / f"{entry.sha256}.seg"
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(SpoolCorruptError, match="no longer matches its hash"):
        spool.read(entry)


def test_discarding_a_recording_removes_only_its_segments(spool: Spool) -> None:
    keep_recording, drop_recording = uuid.uuid4(), uuid.uuid4()
    kept = [spool.put(d) for d in sealed_segments(2, recording=keep_recording)]
    for data in sealed_segments(3, recording=drop_recording):
        spool.put(data)
    assert spool.discard_recording(drop_recording) == 3
    assert [s.sha256 for s in spool.pending()] == [k.sha256 for k in kept]
    assert spool.recording_state(drop_recording) == RecordingState.DISCARDED
    assert len(list((spool.root / "segments").iterdir())) == 2


@pytest.mark.logs_errors(r"cannot be adopted", r"vanished from disk before upload")
def test_recovery_handles_every_leftover(tmp_path: Path) -> None:
    root = tmp_path / "spool"
    finished_recording, open_recording = uuid.uuid4(), uuid.uuid4()
    with Spool(root, min_free_bytes=0) as spool:
        acked = spool.put(sealed_segments(1)[0])
        vanished = spool.put(sealed_segments(1)[0])
        for data in sealed_segments(2, recording=finished_recording):
            spool.put(data)
        spool.set_recording_state(finished_recording, RecordingState.COMPLETE)
        kept = spool.put(sealed_segments(1, recording=open_recording)[0])
    # Leave behind what a SIGKILL at each step could leave:
    (root / "tmp" / "abc.seg.123.tmp").write_bytes(b"partial ciphertext")
    orphan = sealed_segments(1)[0]
    orphan_sha = hashlib.sha256(orphan).hexdigest()
    (root / "segments" / f"{orphan_sha}.seg").write_bytes(orphan)
    (root / "segments" / f"{'f' * 64}.seg").write_bytes(b"not what the name says")
    db = sqlite3.connect(root / "manifest.sqlite")
    db.execute("UPDATE segments SET state = 'acknowledged' WHERE sha256 = ?", (acked.sha256,))
    db.commit()
    db.close()
    (root / "segments" / f"{vanished.sha256}.seg").unlink()

    with Spool(root, min_free_bytes=0) as spool:
        report = spool.recovery
        assert report.removed_partial_files == 1
        assert report.adopted_segments == 1
        assert report.finished_acknowledgements == 1
        assert report.quarantined_files == [f"{'f' * 64}.seg"]
        assert report.missing_segments == [vanished.sha256]
        pending = {s.sha256 for s in spool.pending()}
        assert orphan_sha in pending
        assert kept.sha256 in pending
        assert acked.sha256 not in pending
        assert not (root / "segments" / f"{acked.sha256}.seg").exists()
        assert (root / "quarantine" / f"{'f' * 64}.seg").exists()
        assert spool.recording_state(finished_recording) == RecordingState.COMPLETE
        assert spool.recording_state(open_recording) == RecordingState.INTERRUPTED
        assert open_recording in report.interrupted_recordings
    with Spool(root, min_free_bytes=0) as spool:
        assert spool.recovery.clean


def test_manifest_from_a_newer_agent_is_left_untouched(tmp_path: Path) -> None:
    root = tmp_path / "spool"
    Spool(root).close()
    db = sqlite3.connect(root / "manifest.sqlite")
    db.execute("PRAGMA user_version=99")
    db.close()
    with pytest.raises(SpoolError, match="upgrade the agent"):
        Spool(root)
    # The failed open released its lock: a second try gives the same clear error.
    with pytest.raises(SpoolError, match="format 99"):
        Spool(root)
