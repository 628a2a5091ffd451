"""Releases outside the service area (R16): one person requests, a different person with the
authoriser role authorises, and only then can the requester export the recording. The log
holds purpose, requester, the recording's date and time, and the authoriser."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from protocol.api.staff import AuditDetails, ReleaseView
from protocol.api.vocabulary import Purpose
from vault import audit_log
from vault.access import Media, check_openable, decrypt_media, recording_row
from vault.context import Actor, VaultContext
from vault.db.engine import write_transaction
from vault.db.tables import recordings, releases, users
from vault.errors import Conflict, Forbidden, NotFound, VaultError
from vault.roles import Permission

MAX_TEXT = 1000


def request(
    ctx: VaultContext,
    actor: Actor,
    recording_id: uuid.UUID,
    *,
    purpose: Purpose,
    recipient: str,
    reason: str,
) -> uuid.UUID:
    actor.require(Permission.RELEASE_REQUEST)
    if not recipient.strip() or len(recipient) > 200:
        raise VaultError("recipient must be 1-200 characters: who receives the export")
    if not reason.strip() or len(reason) > MAX_TEXT:
        raise VaultError(f"reason must be 1-{MAX_TEXT} characters")
    with ctx.engine.connect() as connection:
        check_openable(recording_row(connection, recording_id), purpose)
    release_id = uuid.uuid4()
    now = ctx.clock()
    with write_transaction(ctx.engine) as connection:
        connection.execute(
            releases.insert().values(
                id=release_id,
                recording_id=recording_id,
                requester_id=actor.user_id,
                purpose=purpose.value,
                recipient=recipient,
                reason=reason,
                requested_at=now,
            )
        )
    audit_log.append(
        ctx.engine,
        at=now,
        actor=actor.username,
        action="release-request",
        subject=str(recording_id),
        details=AuditDetails(release=str(release_id), purpose=purpose.value, recipient=recipient),
    )
    return release_id


def authorise(ctx: VaultContext, actor: Actor, release_id: uuid.UUID) -> None:
    actor.require(Permission.RELEASE_AUTHORISE)
    now = ctx.clock()
    with write_transaction(ctx.engine) as connection:
        row = connection.execute(sa.select(releases).where(releases.c.id == release_id)).first()
        if row is None:
            raise NotFound(f"no release {release_id}")
        if row.requester_id == actor.user_id:
            raise Forbidden("a release must be authorised by someone other than its requester")
        if row.authoriser_id is not None:
            raise Conflict(f"release {release_id} is already authorised")
        connection.execute(
            releases.update()
            .where(releases.c.id == release_id)
            .values(authoriser_id=actor.user_id, authorised_at=now)
        )
    audit_log.append(
        ctx.engine,
        at=now,
        actor=actor.username,
        action="release-authorise",
        subject=str(row.recording_id),
        details=AuditDetails(release=str(release_id), purpose=str(row.purpose)),
    )


def export(ctx: VaultContext, actor: Actor, release_id: uuid.UUID) -> Media:
    """The authorised release's media, for its requester; the export is logged first."""
    with ctx.engine.connect() as connection:
        row = connection.execute(sa.select(releases).where(releases.c.id == release_id)).first()
        if row is None:
            raise NotFound(f"no release {release_id}")
        if row.requester_id != actor.user_id:
            raise Forbidden("only the person who requested a release can export it")
        if row.authoriser_id is None:
            raise Forbidden(f"release {release_id} is not authorised yet")
        check_openable(recording_row(connection, row.recording_id), Purpose(str(row.purpose)))
    audit_log.append(
        ctx.engine,
        at=ctx.clock(),
        actor=actor.username,
        action="release-export",
        subject=str(row.recording_id),
        details=AuditDetails(release=str(release_id), purpose=str(row.purpose)),
    )
    return decrypt_media(ctx, row.recording_id)


def release_log(ctx: VaultContext, actor: Actor) -> list[ReleaseView]:
    actor.require(Permission.RELEASE_LIST)
    return _releases(ctx)


def requested_by(ctx: VaultContext, actor: Actor) -> list[ReleaseView]:
    """The releases this person requested: how they learn one is authorised, to export it."""
    actor.require(Permission.RELEASE_REQUEST)
    return _releases(ctx, requester_id=actor.user_id)


def _releases(ctx: VaultContext, *, requester_id: int | None = None) -> list[ReleaseView]:
    requester = users.alias("requester")
    authoriser = users.alias("authoriser")
    with ctx.engine.connect() as connection:
        rows = connection.execute(
            sa.select(
                releases,
                recordings.c.started_at,
                requester.c.username.label("requester"),
                authoriser.c.username.label("authoriser"),
            )
            .join(recordings, recordings.c.id == releases.c.recording_id)
            .join(requester, requester.c.id == releases.c.requester_id)
            .outerjoin(authoriser, authoriser.c.id == releases.c.authoriser_id)
            .where(sa.true() if requester_id is None else releases.c.requester_id == requester_id)
            .order_by(releases.c.requested_at)
        )
        return [
            ReleaseView(
                id=r.id,
                recording_id=r.recording_id,
                recorded_at=r.started_at,
                purpose=Purpose(str(r.purpose)),
                requester=r.requester,
                recipient=r.recipient,
                reason=r.reason,
                requested_at=r.requested_at,
                authoriser=r.authoriser,
                authorised_at=r.authorised_at,
            )
            for r in rows
        ]
