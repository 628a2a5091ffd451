"""Waveform peaks kept sealed under the recording's own key (docs/console.md, "Two lanes").

Peaks are derived from the call, so they are personal data. Each segment's peaks are sealed
with AES-256-GCM under a key derived from the recording's data key, bound to the recording,
the segment and the rate; once retention destroys the data key nothing can open them, and the
rows are deleted with the recording. The first playback of a recording computes and seals
them; later playbacks open them instead of decoding the call's audio again.
"""

from __future__ import annotations

import os
import struct
import uuid
from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy.engine import Connection, Engine

from vault.db.engine import write_transaction
from vault.db.tables import segment_peaks

PEAKS_KEY_INFO = b"callreel/v1/peaks"
_NONCE_LEN = 12
_BOUND = struct.Struct(">16sQH")  # recording id, segment index, peaks per second

Lanes = tuple[list[int], list[int]]


class SealedPeaksError(ValueError):
    """Stored peaks that do not open (another key, or changed): computed again instead."""


def peaks_key(data_key: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt=None, info=PEAKS_KEY_INFO).derive(data_key)


def seal(key: bytes, recording_id: uuid.UUID, index: int, per_second: int, lanes: Lanes) -> bytes:
    agent, caller = lanes
    if len(agent) != len(caller):
        raise ValueError("both lanes of a segment have as many peaks")
    nonce = os.urandom(_NONCE_LEN)
    bound = _BOUND.pack(recording_id.bytes, index, per_second)
    return nonce + AESGCM(key).encrypt(nonce, bytes(agent) + bytes(caller), bound)


def open_sealed(
    key: bytes, recording_id: uuid.UUID, index: int, per_second: int, sealed: bytes
) -> Lanes:
    bound = _BOUND.pack(recording_id.bytes, index, per_second)
    try:
        both = AESGCM(key).decrypt(sealed[:_NONCE_LEN], sealed[_NONCE_LEN:], bound)
    except (InvalidTag, ValueError):
        raise SealedPeaksError(
            f"stored peaks of segment {index} do not open under recording {recording_id}'s key"
        ) from None
    if len(both) % 2:
        raise SealedPeaksError(f"stored peaks of segment {index} have lanes of unequal length")
    half = len(both) // 2
    return list(both[:half]), list(both[half:])


def stored(
    connection: Connection, recording_id: uuid.UUID, indices: Sequence[int], per_second: int
) -> dict[int, bytes]:
    rows = connection.execute(
        sa.select(segment_peaks.c.segment_index, segment_peaks.c.sealed).where(
            segment_peaks.c.recording_id == recording_id,
            segment_peaks.c.segment_index.in_(list(indices)),
            segment_peaks.c.per_second == per_second,
        )
    ).all()
    return {int(row.segment_index): bytes(row.sealed) for row in rows}


def keep(
    engine: Engine, recording_id: uuid.UUID, per_second: int, sealed: Iterable[tuple[int, bytes]]
) -> None:
    """Store newly sealed peaks, replacing any that no longer opened."""
    rows = [
        {"recording_id": recording_id, "segment_index": i, "per_second": per_second, "sealed": s}
        for i, s in sealed
    ]
    if not rows:
        return
    try:
        with write_transaction(engine) as connection:
            connection.execute(
                segment_peaks.delete().where(
                    segment_peaks.c.recording_id == recording_id,
                    segment_peaks.c.segment_index.in_([r["segment_index"] for r in rows]),
                )
            )
            connection.execute(segment_peaks.insert(), rows)
    except sa.exc.IntegrityError:
        pass  # another viewer's process stored the same segments first: theirs open as well


def delete_with(connection: Connection, recording_id: uuid.UUID) -> None:
    connection.execute(segment_peaks.delete().where(segment_peaks.c.recording_id == recording_id))
