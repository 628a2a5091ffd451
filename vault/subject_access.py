"""Subject access (R19): everything the vault holds about one agent, as one zip: their user
record, devices, the sessions that covered them, their recordings' metadata and media (where
the key still exists), and the access history of those recordings. The export is logged."""

from __future__ import annotations

import io
import json
import zipfile

import sqlalchemy as sa

from protocol.api.staff import AuditDetails
from protocol.api.vocabulary import StoredRecordingState
from vault import audit_log, completeness
from vault.access import decrypt_media, describe
from vault.accounts import find_user
from vault.context import Actor, VaultContext
from vault.db.tables import devices, recordings, training_sessions, users
from vault.errors import VaultError
from vault.roles import Permission


def export_agent(ctx: VaultContext, actor: Actor, agent_username: str) -> bytes:
    actor.require(Permission.SUBJECT_ACCESS_EXPORT)
    with ctx.engine.connect() as connection:
        user = find_user(connection, agent_username)
        device_rows = connection.execute(
            sa.select(devices).where(devices.c.agent_user_id == user.id)
        ).all()
        session_rows = connection.execute(
            sa.select(training_sessions).where(training_sessions.c.agent_user_id == user.id)
        ).all()
        recording_rows = connection.execute(
            sa.select(recordings, users.c.username.label("agent"))
            .join(users, users.c.id == recordings.c.agent_user_id)
            .where(recordings.c.agent_user_id == user.id)
            .order_by(recordings.c.started_at)
        ).all()
        history = audit_log.read_records(connection, subjects=[str(r.id) for r in recording_rows])
        stored = completeness.stored_indices(connection, [r.id for r in recording_rows])
    audit_log.append(
        ctx.engine,
        at=ctx.clock(),
        actor=actor.username,
        action="subject-access-export",
        subject=agent_username,
        details=AuditDetails(recordings=str(len(recording_rows))),
    )
    summary = {
        "agent": {
            "username": user.username,
            "roles": user.roles,
            "team": user.team,
            "created_at": user.created_at.isoformat(),
        },
        "devices": [
            {
                "id": str(d.id),
                "hostname": d.hostname,
                "enrolled_at": d.enrolled_at.isoformat(),
                "revoked_at": None if d.revoked_at is None else d.revoked_at.isoformat(),
                "agent_version": d.agent_version,
            }
            for d in device_rows
        ],
        "training_sessions": [
            {
                "id": str(s.id),
                "purpose": s.purpose,
                "calls_allowed": s.calls_allowed,
                "calls_used": s.calls_used,
                "created_at": s.created_at.isoformat(),
                "expires_at": s.expires_at.isoformat(),
            }
            for s in session_rows
        ],
        "recordings": [describe(r, stored[r.id]).model_dump(mode="json") for r in recording_rows],
        "access_history": [
            {
                "recording_id": r.subject,
                "at": r.at,
                "who": r.actor,
                "action": r.action,
                "details": dict(r.details),
            }
            for r in history
        ],
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("subject.json", json.dumps(summary, indent=2))
        for row in recording_rows:
            if row.state == StoredRecordingState.SHREDDED:
                continue
            audit_log.append(
                ctx.engine,
                at=ctx.clock(),
                actor=actor.username,
                action="subject-access-export",
                subject=str(row.id),
                details=AuditDetails(purpose="subject-access", agent=agent_username),
            )
            try:
                media = decrypt_media(ctx, row.id)
            except VaultError as exc:
                archive.writestr(f"recordings/{row.id}.txt", f"not included: {exc}\n")
                continue
            archive.writestr(f"recordings/{row.id}.{media.extension}", media.data)
    return buffer.getvalue()
