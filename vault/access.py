"""Opening recordings (R13-R15): permission, a purpose compatible with the recording's, the
access record written first (DESIGN invariant 6), then the data key is unsealed and the
segments are joined."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from protocol.segments.format import METADATA_SEGMENT_INDEX, MediaType, SegmentError
from protocol.segments.unseal import open_segment
from vault import audit_log, keystore
from vault.assemble import AssembleError, join_segments
from vault.context import Actor, VaultContext
from vault.db import recordings, segments, users
from vault.errors import Forbidden, Gone, NotFound, Unavailable, VaultError
from vault.ingest import RecordingState
from vault.purposes import Purpose, access_allowed
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


def recording_row(connection: Connection, recording_id: uuid.UUID) -> sa.Row[tuple[object, ...]]:
    row = connection.execute(
        sa.select(recordings, users.c.username.label("agent"))
        .join(users, users.c.id == recordings.c.agent_user_id)
        .where(recordings.c.id == recording_id)
    ).first()
    if row is None:
        raise NotFound(f"no recording {recording_id}")
    return row


def describe(row: sa.Row[tuple[object, ...]]) -> dict[str, object]:
    return {
        "id": str(row.id),
        "agent": row.agent,
        "session_id": str(row.session_id),
        "device_id": str(row.device_id),
        "purpose": row.purpose,
        "state": row.state,
        "started_at": row.started_at.isoformat(),
        "keep_until": row.keep_until.isoformat(),
        "delete_at": row.delete_at.isoformat(),
        "legal_hold": row.hold_reason,
    }


def list_recordings(ctx: VaultContext, actor: Actor) -> list[dict[str, object]]:
    actor.require(Permission.RECORDING_LIST)
    with ctx.engine.connect() as connection:
        rows = connection.execute(
            sa.select(recordings, users.c.username.label("agent"))
            .join(users, users.c.id == recordings.c.agent_user_id)
            .order_by(recordings.c.started_at.desc())
        )
        return [describe(row) for row in rows]


def check_openable(row: sa.Row[tuple[object, ...]], stated: Purpose) -> None:
    if row.state == RecordingState.SHREDDED:
        raise Gone(f"recording {row.id} was deleted (its key is destroyed)")
    recorded_for = Purpose(str(row.purpose))
    if not access_allowed(recorded_for, stated):
        raise Forbidden(
            f"recording {row.id} was made for {recorded_for.value}; it cannot be opened for"
            f" {stated.value} (R15)"
        )


def decrypt_media(ctx: VaultContext, recording_id: uuid.UUID) -> Media:
    """Unseal and join the recording's media. Only call after the access record is written."""
    with ctx.engine.connect() as connection:
        stanza = keystore.recording_stanza(connection, recording_id)
        parts = connection.execute(
            sa.select(segments)
            .where(
                segments.c.recording_id == recording_id,
                segments.c.segment_index != METADATA_SEGMENT_INDEX,
            )
            .order_by(segments.c.segment_index)
        ).all()
    if not parts:
        raise NotFound(f"recording {recording_id} has no media segments yet")
    indices = [int(p.segment_index) for p in parts]
    if indices != list(range(indices[0], indices[0] + len(indices))):
        raise NotFound(f"recording {recording_id} is missing segments (have {indices})")
    opened = []
    try:
        for part in parts:
            sealed = keystore.restore_stanza(ctx.store.get(str(part.blob_key)), stanza)
            opened.append(
                open_segment(
                    ctx.identity,
                    sealed,
                    expect_recording=recording_id,
                    expect_index=int(part.segment_index),
                )[1]
            )
        extension, content_type = CONTAINERS[int(parts[0].media_type)]
        joined = join_segments(opened, extension)
    except (SegmentError, AssembleError) as exc:
        raise VaultError(
            f"recording {recording_id} cannot be opened: {exc}", code="damaged"
        ) from None
    except SegmentStoreError as exc:
        raise Unavailable(f"segment storage failed: {exc}") from None
    return Media(recording_id, joined, extension, content_type)


def open_recording(
    ctx: VaultContext,
    actor: Actor,
    recording_id: uuid.UUID,
    stated: Purpose,
    *,
    action: str,
    permission: Permission,
    details: dict[str, str] | None = None,
) -> Media:
    actor.require(permission)
    with ctx.engine.connect() as connection:
        check_openable(recording_row(connection, recording_id), stated)
    audit_log.append(
        ctx.engine,
        at=ctx.clock(),
        actor=actor.username,
        action=action,
        subject=str(recording_id),
        details={"purpose": stated.value, **(details or {})},
    )
    return decrypt_media(ctx, recording_id)


def access_history(ctx: VaultContext, agent_user_id: int) -> list[dict[str, object]]:
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
        {
            "recording_id": r.subject,
            "at": r.at,
            "who": r.actor,
            "action": r.action,
            "purpose": r.details.get("purpose"),
        }
        for r in records
    ]
