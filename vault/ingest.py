"""Receiving recordings from devices (R11, R12, R24): registration against a training
session's quota, idempotent segment uploads checked before they are stored, and the end of a
recording."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from protocol.api.vocabulary import Purpose, StoredRecordingState
from protocol.recording_metadata import MetadataError, parse_metadata
from protocol.segments.format import (
    METADATA_SEGMENT_INDEX,
    MediaType,
    SegmentError,
    SegmentHeader,
    parse_header,
)
from protocol.segments.unseal import open_segment
from vault import completeness, keystore, sessions
from vault.context import VaultContext, identity_for
from vault.db.engine import write_transaction
from vault.db.tables import recordings, segments
from vault.devices import MAX_CLOCK_SKEW_SECONDS, Device
from vault.errors import Conflict, Forbidden, Gone, NotFound, TooLarge, VaultError

MEDIA_TYPES = (MediaType.MATROSKA, MediaType.MP4)


def blob_key(recording_id: uuid.UUID, index: int) -> str:
    return f"recordings/{recording_id}/{index:010d}"


def register_recording(
    ctx: VaultContext,
    device: Device,
    recording_id: uuid.UUID,
    session_id: uuid.UUID,
    started_at: datetime,
) -> bool:
    """True if newly registered, False if it already was (a retry). A recording beyond the
    session's quota is refused."""
    now = ctx.clock()
    if started_at.tzinfo is None:
        raise VaultError("started_at needs a time zone")
    if started_at > now + timedelta(seconds=MAX_CLOCK_SKEW_SECONDS):
        raise VaultError("started_at is in the future: check this machine's clock")
    with write_transaction(ctx.engine) as connection:
        existing = connection.execute(
            sa.select(recordings).where(recordings.c.id == recording_id)
        ).first()
        if existing is not None:
            if existing.device_id != device.id or existing.session_id != session_id:
                raise Conflict(
                    f"recording {recording_id} is registered to another device or session"
                )
            return False
        session = sessions.claim_call(connection, device, session_id, started_at)
        purpose = Purpose(str(session.purpose))
        rule = ctx.retention[purpose]
        connection.execute(
            recordings.insert().values(
                id=recording_id,
                session_id=session_id,
                device_id=device.id,
                agent_user_id=device.agent_user_id,
                purpose=purpose.value,
                started_at=started_at,
                registered_at=now,
                state=StoredRecordingState.OPEN,
                keep_until=started_at + rule.keep,
                delete_at=started_at + rule.delete_after,
            )
        )
    return True


@dataclass(frozen=True, slots=True)
class StoredSegment:
    recording_id: uuid.UUID
    segment_index: int
    sha256: str
    created: bool


def store_segment(
    ctx: VaultContext, device: Device, claimed_sha256: str, body: bytes, *, _attempt: int = 0
) -> StoredSegment:
    """Check and keep one sealed segment. A retry of a stored segment succeeds again; a
    different body at the same place in a recording is a conflict."""
    if len(body) > ctx.max_segment_bytes:
        raise TooLarge(f"segment of {len(body)} bytes exceeds {ctx.max_segment_bytes}")
    sha256 = hashlib.sha256(body).hexdigest()
    if sha256 != claimed_sha256.lower():
        raise VaultError(
            "body does not match its SHA-256 name (damaged in transit?): upload it again",
            code="digest-mismatch",
        )
    try:
        header = parse_header(body)
    except SegmentError as exc:
        raise VaultError(f"not a valid sealed segment: {exc}", code=f"segment-{exc.kind}") from None
    rid, index = header.recording_id, header.segment_index
    with ctx.engine.connect() as connection:
        recording = connection.execute(sa.select(recordings).where(recordings.c.id == rid)).first()
        if recording is None:
            raise NotFound(f"recording {rid} is not registered: register it before its segments")
        if recording.device_id != device.id:
            raise Forbidden(f"recording {rid} belongs to another device")
        if recording.state == StoredRecordingState.SHREDDED:
            raise Gone(f"recording {rid} was deleted; its segments are no longer accepted")
        existing = connection.execute(
            sa.select(segments.c.sha256).where(
                segments.c.recording_id == rid, segments.c.segment_index == index
            )
        ).first()
        stanza = keystore.stored_stanza(connection, rid)
    if existing is not None and existing.sha256 == sha256:
        return StoredSegment(rid, index, sha256, created=False)
    announced = _refuse_unless_sound(ctx, header, body, stanza)
    if existing is not None:
        raise Conflict(
            f"segment {index} of recording {rid} is already stored with different content",
            code="segment-conflict",
        )
    key = blob_key(rid, index)
    ctx.store.put(key, keystore.strip_stanza(body), retain_until=recording.keep_until)
    try:
        with write_transaction(ctx.engine) as connection:
            if stanza is None and keystore.stored_stanza(connection, rid) is None:
                keystore.keep_stanza(connection, header)
            connection.execute(
                segments.insert().values(
                    recording_id=rid,
                    segment_index=index,
                    sha256=sha256,
                    size=len(body),
                    media_type=int(header.media_type),
                    blob_key=key,
                    stored_at=ctx.clock(),
                )
            )
            if index == METADATA_SEGMENT_INDEX:
                connection.execute(
                    recordings.update()
                    .where(recordings.c.id == rid)
                    .values(media_segments=announced)
                )
            completeness.settle(connection, rid)
    except sa.exc.IntegrityError:
        # A concurrent retry of the same upload won the race; decide as if it came first.
        if _attempt >= 2:
            raise Conflict("concurrent uploads of this segment keep colliding; retry") from None
        return store_segment(ctx, device, claimed_sha256, body, _attempt=_attempt + 1)
    return StoredSegment(rid, index, sha256, created=True)


def _refuse_unless_sound(
    ctx: VaultContext, header: SegmentHeader, body: bytes, stanza: bytes | None
) -> int | None:
    """VaultError unless the segment is what it claims, sealed to this vault, and opens; for
    the metadata segment, the number of media segments it announces (None if it does not)."""
    rid, index = header.recording_id, header.segment_index
    if header.media_type not in MEDIA_TYPES and not (
        header.media_type is MediaType.JSON and index == METADATA_SEGMENT_INDEX
    ):
        raise VaultError(f"media type {header.media_type.label} is not expected at index {index}")
    identity = identity_for(ctx, header.recipient_key_id)
    if identity is None:
        raise VaultError(
            f"segment is sealed to key {header.recipient_key_id.hex()}, not to this vault's"
            f" {ctx.identity.recipient.key_id.hex()} nor a key it retired: the agent has the"
            " wrong vault key",
            code="segment-wrong-key",
        )
    if stanza is not None and stanza != header.sealed_key:
        raise VaultError(
            "segment's sealed data key differs from the recording's other segments",
            code="segment-key-mismatch",
        )
    try:
        # Opening it whole proves it is authentic and complete while the agent still has it;
        # the plaintext is dropped at once.
        _, plaintext = open_segment(identity, body, expect_recording=rid, expect_index=index)
    except SegmentError as exc:
        raise VaultError(f"segment does not open: {exc}", code=f"segment-{exc.kind}") from None
    if header.media_type is not MediaType.JSON:
        return None
    try:
        # Any version this vault reads must fit its format; a newer one is kept as it is.
        return parse_metadata(plaintext).media_segments
    except MetadataError as exc:
        raise VaultError(
            f"the recording's metadata segment is refused: {exc}", code="metadata-invalid"
        ) from None


def end_recording(ctx: VaultContext, device: Device, recording_id: uuid.UUID, state: str) -> None:
    """The agent reports how a recording ended: complete, or interrupted (crash, kill). The
    vault's own state still follows what arrived: a recording reported complete with segments
    missing is incomplete (vault/completeness.py)."""
    if state not in (StoredRecordingState.COMPLETE, StoredRecordingState.INTERRUPTED):
        raise VaultError("state must be complete or interrupted")
    with write_transaction(ctx.engine) as connection:
        row = connection.execute(
            sa.select(recordings).where(recordings.c.id == recording_id)
        ).first()
        if row is None or row.device_id != device.id:
            raise NotFound(f"no recording {recording_id} from this device")
        completeness.settle(connection, recording_id, ended=StoredRecordingState(state))
