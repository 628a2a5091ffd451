"""Spool format 2: recordings carry their session and vault state; a format-1 spool is
migrated in place with its data kept."""

from __future__ import annotations

import hashlib
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.spool.spool import (
    NO_SESSION_NOTE,
    SPOOL_FORMAT_VERSION,
    RecordingState,
    Spool,
    SpoolError,
    VaultState,
)
from protocol.keys import VaultIdentity
from protocol.segments.format import METADATA_SEGMENT_INDEX, MediaType
from protocol.segments.seal import RecordingSealer

RECIPIENT = VaultIdentity.generate().recipient

# The manifest schema exactly as format-1 agents wrote it (agent/spool/spool.py before format 2).
V1_SCHEMA = """
CREATE TABLE recordings (
    recording_id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE segments (
    sequence INTEGER PRIMARY KEY AUTOINCREMENT,
    sha256 TEXT NOT NULL UNIQUE,
    recording_id TEXT NOT NULL REFERENCES recordings(recording_id),
    segment_index INTEGER NOT NULL,
    media_type INTEGER NOT NULL,
    size INTEGER NOT NULL,
    state TEXT NOT NULL,
    spooled_at REAL NOT NULL,
    UNIQUE (recording_id, media_type, segment_index)
);
"""


def sealed(recording: uuid.UUID, count: int, *, metadata: bool = False) -> list[bytes]:
    sealer = RecordingSealer(RECIPIENT, recording)
    out = [sealer.seal(i, MediaType.MATROSKA, bytes([i]) * 3000) for i in range(count)]
    if metadata:
        out.append(sealer.seal(METADATA_SEGMENT_INDEX, MediaType.JSON, b'{"ok": 1}'))
    return out


def write_v1_spool(root: Path, recordings: dict[uuid.UUID, tuple[str, list[bytes]]]) -> None:
    """A spool as a format-1 agent left it: files named by hash, rows in the v1 manifest."""
    (root / "segments").mkdir(parents=True)
    db = sqlite3.connect(root / "manifest.sqlite", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    for statement in filter(str.strip, V1_SCHEMA.split(";")):
        db.execute(statement)
    db.execute("PRAGMA user_version=1")
    for rid, (state, segments) in recordings.items():
        db.execute("INSERT INTO recordings VALUES (?, ?, ?)", (str(rid), state, time.time()))
        for index, data in enumerate(segments):
            sha = hashlib.sha256(data).hexdigest()
            (root / "segments" / f"{sha}.seg").write_bytes(data)
            db.execute(
                "INSERT INTO segments (sha256, recording_id, segment_index, media_type, size,"
                " state, spooled_at) VALUES (?, ?, ?, ?, ?, 'pending', ?)",
                (sha, str(rid), index, int(MediaType.MATROSKA), len(data), time.time()),
            )
    db.close()


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Spool]:
    with Spool(tmp_path / "spool", min_free_bytes=0) as opened:
        yield opened


def test_a_format_1_spool_is_migrated_in_place_and_keeps_its_data(tmp_path: Path) -> None:
    root = tmp_path / "spool"
    finished, open_call = uuid.uuid4(), uuid.uuid4()
    finished_segments, open_segments = sealed(finished, 2), sealed(open_call, 1)
    write_v1_spool(
        root, {finished: ("complete", finished_segments), open_call: ("recording", open_segments)}
    )
    with Spool(root, min_free_bytes=0) as spool:
        assert spool.recovery.interrupted_recordings == [open_call]
        assert [spool.read(s) for s in spool.pending()] == finished_segments + open_segments
        assert spool.recording_state(finished) is RecordingState.COMPLETE
        migrated = spool.recording(finished)
        assert migrated is not None
        assert migrated.session_id is None
        assert migrated.started_at is None
        assert migrated.vault_state is VaultState.UNREGISTERED
        assert migrated.pending_segments == 2
        # Recorded without a session: never uploaded, shown as needing attention.
        assert spool.recordings_to_upload() == []
        assert {r.recording_id for r in spool.needing_attention()} == {finished, open_call}
        assert migrated.attention == NO_SESSION_NOTE
    db = sqlite3.connect(root / "manifest.sqlite")
    assert db.execute("PRAGMA user_version").fetchone()[0] == SPOOL_FORMAT_VERSION == 2
    columns = {row[1] for row in db.execute("PRAGMA table_info(recordings)")}
    assert {"session_id", "started_at", "vault_state", "refusal"} <= columns
    db.close()
    with Spool(root, min_free_bytes=0) as spool:
        assert spool.recovery.clean
        assert len(spool.pending()) == 3


def test_only_settled_recordings_with_a_session_are_to_upload(spool: Spool) -> None:
    ids = {name: uuid.uuid4() for name in ("live", "done", "cut", "gone", "bare", "sent")}
    for offset, (name, rid) in enumerate(ids.items()):
        if name != "bare":
            spool.set_recording_session(rid, str(uuid.uuid4()), 1000.0 + offset)
        for data in sealed(rid, 1):
            spool.put(data)
    assert spool.recording_state(ids["live"]) is RecordingState.RECORDING
    spool.set_recording_state(ids["done"], RecordingState.COMPLETE)
    spool.set_recording_state(ids["cut"], RecordingState.INTERRUPTED)
    spool.discard_recording(ids["gone"])
    spool.set_recording_state(ids["bare"], RecordingState.COMPLETE)
    spool.set_recording_state(ids["sent"], RecordingState.COMPLETE)
    spool.mark_ended(ids["sent"])
    assert [r.recording_id for r in spool.recordings_to_upload()] == [ids["done"], ids["cut"]]
    spool.set_recording_state(ids["live"], RecordingState.COMPLETE)
    spool.mark_registered(ids["done"])
    to_upload = spool.recordings_to_upload()
    assert [r.recording_id for r in to_upload] == [ids["live"], ids["done"], ids["cut"]]
    assert to_upload[1].vault_state is VaultState.REGISTERED
    assert [r.recording_id for r in spool.needing_attention()] == [ids["bare"]]


def test_set_recording_session_creates_a_recording_in_progress(spool: Spool) -> None:
    rid, session = uuid.uuid4(), str(uuid.uuid4())
    spool.set_recording_session(rid, session, 1234.5)
    (listed,) = spool.list_recordings()
    assert (listed.recording_id, listed.session_id, listed.started_at) == (rid, session, 1234.5)
    assert listed.state is RecordingState.RECORDING
    assert listed.pending_segments == 0
    assert listed.attention is None
    # The pipeline's own state changes keep the session.
    spool.set_recording_state(rid, RecordingState.COMPLETE)
    assert spool.recordings_to_upload()[0].session_id == session
    spool.mark_registered(rid)
    with pytest.raises(SpoolError, match="cannot change"):
        spool.set_recording_session(rid, str(uuid.uuid4()), 1234.5)


def test_pending_for_lists_media_by_index_then_the_metadata(spool: Spool) -> None:
    rid = uuid.uuid4()
    *media, metadata = sealed(rid, 3, metadata=True)
    for data in [metadata, media[2], media[0], media[1]]:
        spool.put(data)
    shas = [hashlib.sha256(d).hexdigest() for d in [*media, metadata]]
    assert [s.sha256 for s in spool.pending_for(rid)] == shas
    spool.acknowledge(shas[0])
    assert [s.sha256 for s in spool.pending_for(rid)] == shas[1:]
    assert spool.pending_for(uuid.uuid4()) == []


def test_a_refused_recording_keeps_its_segments(spool: Spool) -> None:
    rid = uuid.uuid4()
    spool.set_recording_session(rid, str(uuid.uuid4()), 1.0)
    for data in sealed(rid, 2):
        spool.put(data)
    spool.set_recording_state(rid, RecordingState.COMPLETE)
    spool.mark_refused(rid, "vault answered 403: no calls left")
    assert spool.recordings_to_upload() == []
    (refused,) = spool.needing_attention()
    assert refused.vault_state is VaultState.REFUSED
    assert refused.refusal == "vault answered 403: no calls left"
    assert refused.attention == "refused by the vault: vault answered 403: no calls left"
    assert refused.pending_segments == 2
    for segment in spool.pending_for(rid):
        assert spool.read(segment)
    with pytest.raises(SpoolError, match="no recording"):
        spool.mark_ended(uuid.uuid4())


def test_list_recordings_is_newest_first_and_limited(spool: Spool) -> None:
    ids = [uuid.uuid4() for _ in range(4)]
    for rid in ids:
        spool.set_recording_session(rid, str(uuid.uuid4()), 1.0)
        time.sleep(0.002)  # distinct updated_at stamps
    assert [r.recording_id for r in spool.list_recordings(limit=2)] == ids[:1:-1]
    assert len(spool.list_recordings()) == 4
