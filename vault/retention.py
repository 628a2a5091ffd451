"""Retention (R17): legal holds, early deletion by an administrator, and the retention run.
Deletion destroys the recording's data key first (crypto-shredding: from then on nothing can
open it, backups included), then its stored segments, and is logged."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import sqlalchemy as sa

from protocol.api.staff import AuditDetails
from protocol.api.vocabulary import StoredRecordingState
from vault import audit_log, keystore, notes, sealed_peaks
from vault.access import recording_row
from vault.context import Actor, VaultContext
from vault.db.engine import write_transaction
from vault.db.tables import recordings, segments
from vault.errors import Conflict, VaultError
from vault.roles import Permission
from vault.storage.base import SegmentLocked, SegmentStoreError

MAX_REASON = 500


def set_hold(ctx: VaultContext, actor: Actor, recording_id: uuid.UUID, reason: str) -> None:
    actor.require(Permission.LEGAL_HOLD)
    if not reason.strip() or len(reason) > MAX_REASON:
        raise VaultError(f"a legal hold needs a reason of 1-{MAX_REASON} characters")
    _apply_hold(ctx, actor, recording_id, reason)


def clear_hold(ctx: VaultContext, actor: Actor, recording_id: uuid.UUID) -> None:
    actor.require(Permission.LEGAL_HOLD)
    _apply_hold(ctx, actor, recording_id, None)


def _apply_hold(
    ctx: VaultContext, actor: Actor, recording_id: uuid.UUID, reason: str | None
) -> None:
    """Place the hold (`reason`) or lift it (None), in the vault and in the store; logged."""
    with write_transaction(ctx.engine) as connection:
        row = recording_row(connection, recording_id)
        if reason is not None and row.state == StoredRecordingState.SHREDDED:
            raise Conflict(f"recording {recording_id} is already deleted")
        connection.execute(
            recordings.update()
            .where(recordings.c.id == recording_id)
            .values(hold_reason=reason, hold_by=None if reason is None else actor.username)
        )
        keys = _blob_keys(connection, recording_id)
    for key in keys:
        ctx.store.set_legal_hold(key, reason is not None)
    audit_log.append(
        ctx.engine,
        at=ctx.clock(),
        actor=actor.username,
        action="legal-hold" if reason is not None else "legal-hold-lifted",
        subject=str(recording_id),
        details=None if reason is None else AuditDetails(reason=reason),
    )


def _blob_keys(connection: sa.Connection, recording_id: uuid.UUID) -> list[str]:
    return [
        str(k)
        for k in connection.execute(
            sa.select(segments.c.blob_key).where(
                segments.c.recording_id == recording_id, segments.c.deleted_at.is_(None)
            )
        ).scalars()
    ]


def shred(ctx: VaultContext, recording_id: uuid.UUID, *, actor: str, reason: str) -> int:
    """Destroy the key, then delete what segments the store lets go; returns how many
    segments are still stored (under Object Lock until their retention date)."""
    now = ctx.clock()
    with ctx.engine.connect() as connection:
        _refuse_if_held(recording_row(connection, recording_id))
    # Logged before the key goes, as every access is (docs/design.md, invariant 6): a deletion that
    # cannot be logged does not happen.
    audit_log.append(
        ctx.engine,
        at=now,
        actor=actor,
        action="deletion",
        subject=str(recording_id),
        details=AuditDetails(reason=reason),
    )
    with write_transaction(ctx.engine) as connection:
        row = recording_row(connection, recording_id)
        _refuse_if_held(row)
        keystore.destroy_key(connection, recording_id)
        notes.delete_with(connection, recording_id)
        sealed_peaks.delete_with(connection, recording_id)
        connection.execute(
            recordings.update()
            .where(recordings.c.id == recording_id)
            .values(state=StoredRecordingState.SHREDDED, shredded_at=row.shredded_at or now)
        )
    return delete_segments(ctx, recording_id)


def _refuse_if_held(row: sa.Row[tuple[object, ...]]) -> None:
    if row.hold_reason is not None:
        raise Conflict(
            f"recording {row.id} is under legal hold ({row.hold_reason}); lift the hold first"
        )


def delete_segments(ctx: VaultContext, recording_id: uuid.UUID) -> int:
    with ctx.engine.connect() as connection:
        keys = _blob_keys(connection, recording_id)
    left = 0
    for key in keys:
        try:
            ctx.store.delete(key)
        except SegmentLocked:
            left += 1
            continue
        except SegmentStoreError:
            left += 1
            continue
        with write_transaction(ctx.engine) as connection:
            connection.execute(
                segments.update().where(segments.c.blob_key == key).values(deleted_at=ctx.clock())
            )
    return left


def delete_recording(ctx: VaultContext, actor: Actor, recording_id: uuid.UUID, reason: str) -> int:
    actor.require(Permission.RECORDING_DELETE)
    if not reason.strip() or len(reason) > MAX_REASON:
        raise VaultError(f"deleting a recording needs a reason of 1-{MAX_REASON} characters")
    return shred(ctx, recording_id, actor=actor.username, reason=reason)


@dataclass(slots=True)
class RetentionReport:
    shredded: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    segments_left: int = 0


def run(ctx: VaultContext, *, actor: str) -> RetentionReport:
    """Shred every recording past its delete date that is not held; finish deleting the
    segments of recordings shredded earlier whose Object Lock has since expired."""
    now = ctx.clock()
    report = RetentionReport()
    with ctx.engine.connect() as connection:
        due = connection.execute(
            sa.select(recordings.c.id, recordings.c.hold_reason).where(
                recordings.c.delete_at <= now, recordings.c.state != StoredRecordingState.SHREDDED
            )
        ).all()
        pending = (
            connection.execute(
                sa.select(segments.c.recording_id)
                .distinct()
                .join(recordings, recordings.c.id == segments.c.recording_id)
                .where(
                    recordings.c.state == StoredRecordingState.SHREDDED,
                    segments.c.deleted_at.is_(None),
                )
            )
            .scalars()
            .all()
        )
    for recording_id, hold_reason in due:
        if hold_reason is not None:
            report.held.append(str(recording_id))
            continue
        report.segments_left += shred(ctx, recording_id, actor=actor, reason="retention expired")
        report.shredded.append(str(recording_id))
    for recording_id in pending:
        report.segments_left += delete_segments(ctx, recording_id)
    return report
