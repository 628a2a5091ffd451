"""Coaching notes (R20): a trainer's words at a moment of a recording, shown to the agent on
their own recording. Adding one needs the right to play the recording (only someone who has
watched it can annotate it) and is in the access log; the text is not, because the log is
kept for ever and a note is personal data deleted with its recording (vault/retention.py)."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from protocol.api.staff import AuditDetails, NewNote, NoteView
from protocol.api.vocabulary import StoredRecordingState
from vault import audit_log
from vault.access import recording_row
from vault.context import Actor, VaultContext
from vault.db.tables import coaching_notes, users
from vault.errors import Forbidden, Gone
from vault.roles import Permission, allowed

MAX_NOTES_PER_RECORDING = 500
"""Bounds what one recording's page carries; a trainer needs far fewer."""


def add(ctx: VaultContext, actor: Actor, recording_id: uuid.UUID, note: NewNote) -> NoteView:
    actor.require(Permission.RECORDING_PLAY)
    note_id = uuid.uuid4()
    now = ctx.clock()

    def insert(connection: Connection) -> None:
        row = recording_row(connection, recording_id)
        if row.state == StoredRecordingState.SHREDDED:
            raise Gone(f"recording {recording_id} was deleted; its notes went with it")
        count = connection.execute(
            sa.select(sa.func.count())
            .select_from(coaching_notes)
            .where(coaching_notes.c.recording_id == recording_id)
        ).scalar_one()
        if count >= MAX_NOTES_PER_RECORDING:
            raise Forbidden(
                f"recording {recording_id} already has {count} notes, the most it keeps;"
                " edit the training plan outside the vault"
            )
        connection.execute(
            coaching_notes.insert().values(
                id=note_id,
                recording_id=recording_id,
                author_id=actor.user_id,
                at_s=note.at_s,
                text=note.text,
                created_at=now,
            )
        )

    audit_log.with_record(
        ctx.engine,
        insert,
        at=now,
        actor=actor.username,
        action="note-added",
        subject=str(recording_id),
        details=AuditDetails(label=f"note {note_id} at {note.at_s:.1f} s"),
    )
    return NoteView(
        id=note_id,
        recording_id=recording_id,
        author=actor.username,
        at_s=note.at_s,
        text=note.text,
        created_at=now,
    )


def may_read(actor: Actor, agent_user_id: int) -> bool:
    """Reviewers read the notes on any recording they may play; an agent those on their own."""
    return allowed(actor.roles, Permission.RECORDING_PLAY) or (
        allowed(actor.roles, Permission.OWN_ACCESS_VIEW) and actor.user_id == agent_user_id
    )


def notes_on(ctx: VaultContext, actor: Actor, recording_id: uuid.UUID) -> list[NoteView]:
    with ctx.engine.connect() as connection:
        row = recording_row(connection, recording_id)
        if not may_read(actor, int(str(row.agent_user_id))):
            raise Forbidden(
                f"{actor.username} may not read the notes on recording {recording_id}: they"
                " are for its reviewers and its agent"
            )
        return read_notes(connection, [recording_id])


def read_notes(connection: Connection, recording_ids: list[uuid.UUID]) -> list[NoteView]:
    if not recording_ids:
        return []
    rows = connection.execute(
        sa.select(coaching_notes, users.c.username.label("author"))
        .join(users, users.c.id == coaching_notes.c.author_id)
        .where(coaching_notes.c.recording_id.in_(recording_ids))
        .order_by(coaching_notes.c.recording_id, coaching_notes.c.at_s)
    )
    return [
        NoteView(
            id=r.id,
            recording_id=r.recording_id,
            author=r.author,
            at_s=r.at_s,
            text=r.text,
            created_at=r.created_at,
        )
        for r in rows
    ]


def delete_with(connection: Connection, recording_id: uuid.UUID) -> None:
    """In the transaction that destroys the recording's key."""
    connection.execute(coaching_notes.delete().where(coaching_notes.c.recording_id == recording_id))
