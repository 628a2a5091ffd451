"""Opening recordings (R13-R15): permission, a purpose compatible with the recording's, the
access record written first (docs/design.md, invariant 6), then the data key is unsealed and the
segments are joined."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from protocol.api.agent import AccessRecord
from protocol.api.staff import AuditDetails, RecordingView
from protocol.api.vocabulary import Purpose, StoredRecordingState
from protocol.keys import VaultIdentity
from protocol.recording_metadata import MetadataError, RecordingMetadataView, parse_metadata
from protocol.segments.format import METADATA_SEGMENT_INDEX, MediaType, SegmentError, parse_header
from protocol.segments.unseal import open_segment, unseal_data_key
from vault import audit_log, completeness, keystore
from vault.assemble import AssembleError, join_segments, playable
from vault.completeness import Completeness
from vault.context import Actor, VaultContext, identity_for
from vault.db.engine import write_transaction
from vault.db.tables import recordings, segments, users
from vault.errors import Conflict, Forbidden, Gone, NotFound, Unavailable, VaultError
from vault.media_fragments import FragmentError
from vault.peaks import PeaksError
from vault.purposes import access_allowed
from vault.roles import Permission
from vault.storage.base import SegmentStoreError

CONTAINERS = {
    int(MediaType.MATROSKA): ("webm", "video/webm"),
    int(MediaType.MP4): ("mp4", "video/mp4"),
}


@dataclass(frozen=True, slots=True)
class Media:
    recording_id: uuid.UUID
    data: bytes
    extension: str
    content_type: str
    metadata: RecordingMetadataView | None = None
    """What the agent recorded about gaps; None until its metadata segment arrives."""
    completeness: Completeness | None = None
    """Whether every segment the metadata announces is in `data` (None: not assessed)."""


def recording_row(connection: Connection, recording_id: uuid.UUID) -> sa.Row[tuple[object, ...]]:
    row = connection.execute(
        sa.select(recordings, users.c.username.label("agent"))
        .join(users, users.c.id == recordings.c.agent_user_id)
        .where(recordings.c.id == recording_id)
    ).first()
    if row is None:
        raise NotFound(f"no recording {recording_id}")
    return row


def describe(row: sa.Row[tuple[object, ...]], stored: set[int]) -> RecordingView:
    whole = completeness.of_stored(
        None if row.media_segments is None else int(str(row.media_segments)), stored
    )
    return RecordingView(
        id=row.id,
        agent=row.agent,
        session_id=row.session_id,
        device_id=row.device_id,
        purpose=Purpose(str(row.purpose)),
        state=StoredRecordingState(str(row.state)),
        started_at=row.started_at,
        keep_until=row.keep_until,
        delete_at=row.delete_at,
        legal_hold=row.hold_reason,
        media_segments=whole.expected,
        missing_segments=list(whole.missing),
    )


def list_recordings(ctx: VaultContext, actor: Actor) -> list[RecordingView]:
    actor.require(Permission.RECORDING_LIST)
    with ctx.engine.connect() as connection:
        rows = connection.execute(
            sa.select(recordings, users.c.username.label("agent"))
            .join(users, users.c.id == recordings.c.agent_user_id)
            .order_by(recordings.c.started_at.desc())
        ).all()
        stored = completeness.stored_indices(connection, [row.id for row in rows])
    return [describe(row, stored[row.id]) for row in rows]


def check_openable(row: sa.Row[tuple[object, ...]], stated: Purpose) -> None:
    if row.state == StoredRecordingState.SHREDDED:
        raise Gone(f"recording {row.id} was deleted (its key is destroyed)")
    recorded_for = Purpose(str(row.purpose))
    if not access_allowed(recorded_for, stated):
        raise Forbidden(
            f"recording {row.id} was made for {recorded_for.value}; it cannot be opened for"
            f" {stated.value} (R15)"
        )


@dataclass(frozen=True, slots=True)
class StoredParts:
    """What the vault holds of one recording: its key stanza and its segments' rows."""

    recording_id: uuid.UUID
    stanza: bytes
    media: list[sa.Row[tuple[object, ...]]]
    """The media segments' rows, in order."""
    metadata: sa.Row[tuple[object, ...]] | None

    @property
    def indices(self) -> list[int]:
        return [int(str(part.segment_index)) for part in self.media]

    @property
    def media_type(self) -> MediaType:
        return MediaType(int(str(self.media[0].media_type)))


def stored_parts(ctx: VaultContext, recording_id: uuid.UUID) -> StoredParts:
    with ctx.engine.connect() as connection:
        stanza = keystore.recording_stanza(connection, recording_id)
        rows = connection.execute(
            sa.select(segments)
            .where(segments.c.recording_id == recording_id)
            .order_by(segments.c.segment_index)
        ).all()
    media = [r for r in rows if r.segment_index != METADATA_SEGMENT_INDEX]
    metadata = next((r for r in rows if r.segment_index == METADATA_SEGMENT_INDEX), None)
    if not media:
        raise NotFound(f"recording {recording_id} has no media segments yet")
    return StoredParts(recording_id, stanza, media, metadata)


def unseal_part(ctx: VaultContext, parts: StoredParts, part: sa.Row[tuple[object, ...]]) -> bytes:
    """One segment's plaintext; raises SegmentError or SegmentStoreError."""
    return unseal_part_and_key(ctx, parts, part, want_key=False)[0]


def unseal_part_and_key(
    ctx: VaultContext,
    parts: StoredParts,
    part: sa.Row[tuple[object, ...]],
    *,
    want_key: bool = True,
) -> tuple[bytes, bytes]:
    """One segment's plaintext and (`want_key`) the recording's data key, for what the vault
    seals under it itself (vault/sealed_peaks.py)."""
    sealed = keystore.restore_stanza(ctx.store.get(str(part.blob_key)), parts.stanza)
    identity = _identity_of(ctx, sealed)
    header, plaintext = open_segment(
        identity,
        sealed,
        expect_recording=parts.recording_id,
        expect_index=int(str(part.segment_index)),
    )
    return plaintext, unseal_data_key(identity, header) if want_key else b""


def stored_metadata(
    ctx: VaultContext, parts: StoredParts
) -> tuple[RecordingMetadataView | None, Completeness]:
    """The agent's description of the recording, and whether every segment it names is stored;
    raises SegmentError, MetadataError or SegmentStoreError."""
    metadata = None
    if parts.metadata is not None:
        metadata = parse_metadata(unseal_part(ctx, parts, parts.metadata))
    expected = None if metadata is None else metadata.media_segments
    stored = set(parts.indices) | ({METADATA_SEGMENT_INDEX} if parts.metadata else set())
    if expected is not None:
        _remember_count(ctx, parts.recording_id, expected)
    return metadata, completeness.of_stored(expected, stored)


@contextmanager
def unsealing(recording_id: uuid.UUID) -> Iterator[None]:
    """What goes wrong opening stored segments, as the vault's errors."""
    try:
        yield
    except (SegmentError, AssembleError, MetadataError, FragmentError, PeaksError) as exc:
        raise VaultError(
            f"recording {recording_id} cannot be opened: {exc}", code="damaged"
        ) from None
    except SegmentStoreError as exc:
        raise Unavailable(f"segment storage failed: {exc}") from None


def decrypt_media(ctx: VaultContext, recording_id: uuid.UUID) -> Media:
    """Unseal and join the recording's media. Only call after the access record is written."""
    parts = stored_parts(ctx, recording_id)
    # Segments carry times from the recording's start, so one missing from the middle leaves
    # a gap in the joined file where it belongs; its completeness names it. The rest of its
    # keyframe group is left out with it: its pictures refer back to the missing one.
    with unsealing(recording_id):
        extension, content_type = CONTAINERS[int(parts.media_type)]
        opened = [
            (index, unseal_part(ctx, parts, part))
            for index, part in zip(parts.indices, parts.media, strict=True)
        ]
        kept = playable(opened)
        if not kept:
            raise Conflict(
                f"recording {recording_id} has no segment that can be played yet: its first,"
                " which the others refer to, has not reached the vault; try again once it has",
                code="recording-incomplete",
            )
        joined = join_segments(kept, extension)
        metadata, whole = stored_metadata(ctx, parts)
    return Media(recording_id, joined, extension, content_type, metadata, whole)


def _identity_of(ctx: VaultContext, sealed: bytes) -> VaultIdentity:
    """The identity the segment is sealed to: the current one, or one rotated out since."""
    return identity_for(ctx, parse_header(sealed).recipient_key_id) or ctx.identity


def _remember_count(ctx: VaultContext, recording_id: uuid.UUID, expected: int) -> None:
    """Recordings stored before the vault kept the count learn it when first opened."""
    with write_transaction(ctx.engine) as connection:
        updated = connection.execute(
            recordings.update()
            .where(recordings.c.id == recording_id, recordings.c.media_segments.is_(None))
            .values(media_segments=expected)
        )
        if updated.rowcount:
            completeness.settle(connection, recording_id)


def refuse_if_incomplete(ctx: VaultContext, recording_id: uuid.UUID) -> None:
    """Conflict naming what is missing, before anything is logged or opened."""
    with ctx.engine.connect() as connection:
        state = recording_row(connection, recording_id).state
        whole = completeness.recording_completeness(connection, recording_id)
    # Stored complete before the vault kept counts: the count is learnt when it is opened.
    legacy = state == StoredRecordingState.COMPLETE and whole.expected is None
    if not (whole.complete or legacy):
        raise Conflict(
            f"recording {recording_id} is incomplete: {whole.describe()}. Download it as it is"
            " with incomplete=true; the file will say so",
            code="recording-incomplete",
        )


def log_access(
    ctx: VaultContext,
    actor: Actor,
    recording_id: uuid.UUID,
    stated: Purpose,
    *,
    action: str,
    permission: Permission,
) -> None:
    """Check the right and the purpose, then write the access record (before any unsealing)."""
    actor.require(permission)
    with ctx.engine.connect() as connection:
        check_openable(recording_row(connection, recording_id), stated)
    audit_log.append(
        ctx.engine,
        at=ctx.clock(),
        actor=actor.username,
        action=action,
        subject=str(recording_id),
        details=AuditDetails(purpose=stated.value),
    )


def open_recording(
    ctx: VaultContext,
    actor: Actor,
    recording_id: uuid.UUID,
    stated: Purpose,
    *,
    action: str,
    permission: Permission,
) -> Media:
    log_access(ctx, actor, recording_id, stated, action=action, permission=permission)
    return decrypt_media(ctx, recording_id)


def access_history(ctx: VaultContext, agent_user_id: int) -> list[AccessRecord]:
    """Who opened, released, exported or deleted this agent's recordings (R14)."""
    with ctx.engine.connect() as connection:
        ids = [
            str(rid)
            for rid in connection.execute(
                sa.select(recordings.c.id).where(recordings.c.agent_user_id == agent_user_id)
            ).scalars()
        ]
        records = audit_log.read_records(connection, subjects=ids) if ids else []
    return [
        AccessRecord(
            recording_id=r.subject,
            at=datetime.fromisoformat(r.at),
            who=r.actor,
            action=r.action,
            purpose=r.details.get("purpose"),
        )
        for r in records
    ]
