"""Whether a recording is whole (dispute evidence depends on it).

The agent's sealed metadata segment says how many media segments the recording has. The vault
calls a recording complete only once its metadata and every media segment 0..N-1 are stored
(each was opened on arrival, so stored means authentic). Until then it is open; once the agent
has finished it (its metadata arrived, or it reported the end) with segments missing, it is
incomplete, and the missing indices are named wherever it is listed, played or downloaded.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from protocol.api.vocabulary import StoredRecordingState
from protocol.segments.format import METADATA_SEGMENT_INDEX
from vault.db.tables import recordings, segments

_State = StoredRecordingState


@dataclass(frozen=True, slots=True)
class Completeness:
    expected: int | None
    """Media segments the metadata announces; None until it arrives (or if it does not say)."""
    missing: tuple[int, ...]
    """Indices known to be missing: below the announced count, or gaps below the highest
    stored one while the count is unknown."""
    metadata_stored: bool

    @property
    def complete(self) -> bool:
        return self.metadata_stored and self.expected is not None and not self.missing

    def describe(self) -> str:
        if self.complete:
            return "complete"
        parts = []
        if self.missing:
            parts.append(f"media segments {', '.join(map(str, self.missing))} missing")
        if not self.metadata_stored:
            parts.append("the metadata segment (and with it the segment count) has not arrived")
        elif self.expected is None:
            parts.append("its metadata does not say how many segments it has")
        return "; ".join(parts)


def assess(expected: int | None, stored: set[int], *, metadata_stored: bool) -> Completeness:
    if expected is not None:
        missing = tuple(index for index in range(expected) if index not in stored)
    else:
        highest = max(stored, default=-1)
        missing = tuple(index for index in range(highest) if index not in stored)
    return Completeness(expected, missing, metadata_stored)


def settled_state(
    current: StoredRecordingState, completeness: Completeness, *, ended: StoredRecordingState | None
) -> StoredRecordingState:
    """The state after a segment arrived (`ended` None) or the agent reported the end."""
    if current is _State.SHREDDED:
        return current
    # How it ended is the agent's to say (a crash, a session ended mid-call): whole or not,
    # it does not cover the call; `missing` says whether it is whole.
    if ended is _State.INTERRUPTED or current is _State.INTERRUPTED:
        return _State.INTERRUPTED
    if completeness.complete:
        return _State.COMPLETE
    if ended is not None or completeness.metadata_stored or current is _State.INCOMPLETE:
        return _State.INCOMPLETE
    return _State.OPEN


def stored_indices(
    connection: Connection, recording_ids: list[uuid.UUID]
) -> dict[uuid.UUID, set[int]]:
    found: dict[uuid.UUID, set[int]] = {rid: set() for rid in recording_ids}
    if not recording_ids:
        return found
    for rid, index in connection.execute(
        sa.select(segments.c.recording_id, segments.c.segment_index).where(
            segments.c.recording_id.in_(recording_ids)
        )
    ):
        found[rid].add(int(index))
    return found


def of_stored(expected: int | None, indices: set[int]) -> Completeness:
    """`assess` for the indices stored, the metadata's among them."""
    return assess(
        expected,
        {index for index in indices if index != METADATA_SEGMENT_INDEX},
        metadata_stored=METADATA_SEGMENT_INDEX in indices,
    )


def recording_completeness(connection: Connection, recording_id: uuid.UUID) -> Completeness:
    expected = connection.execute(
        sa.select(recordings.c.media_segments).where(recordings.c.id == recording_id)
    ).scalar_one_or_none()
    indices = stored_indices(connection, [recording_id])[recording_id]
    return of_stored(expected, indices)


def settle(
    connection: Connection, recording_id: uuid.UUID, *, ended: StoredRecordingState | None = None
) -> StoredRecordingState:
    """Recompute and store the recording's state, in the caller's transaction."""
    current = StoredRecordingState(
        str(
            connection.execute(
                sa.select(recordings.c.state).where(recordings.c.id == recording_id)
            ).scalar_one()
        )
    )
    state = settled_state(current, recording_completeness(connection, recording_id), ended=ended)
    if state is not current:
        connection.execute(
            recordings.update().where(recordings.c.id == recording_id).values(state=state)
        )
    return state
