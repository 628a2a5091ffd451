"""What retention will do and has done, for the people who govern recordings (R17): the rules
per purpose, recordings under legal hold, those due for deletion soon, and those shredded."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from protocol.api.vocabulary import Purpose, StoredRecordingState
from vault.context import VaultContext
from vault.db.tables import recordings, users

DUE_WITHIN = timedelta(days=30)
MAX_ROWS = 200
"""Per list: the page is an overview, not an export."""


@dataclass(frozen=True, slots=True)
class RecordingLine:
    id: uuid.UUID
    agent: str
    purpose: Purpose
    started_at: datetime
    delete_at: datetime
    hold_reason: str | None
    hold_by: str | None
    shredded_at: datetime | None


@dataclass(frozen=True, slots=True)
class RetentionOverview:
    rules: list[tuple[Purpose, timedelta, timedelta]]
    """Per purpose: kept locked for, deleted after."""
    held: list[RecordingLine]
    due: list[RecordingLine]
    """Not shredded, to be deleted within DUE_WITHIN (held ones stay, and say so)."""
    shredded: list[RecordingLine]
    most: int = MAX_ROWS


def overview(ctx: VaultContext, now: datetime) -> RetentionOverview:
    live = recordings.c.state != StoredRecordingState.SHREDDED
    with ctx.engine.connect() as connection:
        held = _lines(connection, live & recordings.c.hold_reason.is_not(None),
                      recordings.c.delete_at)  # fmt: skip
        due = _lines(connection, live & (recordings.c.delete_at <= now + DUE_WITHIN),
                     recordings.c.delete_at)  # fmt: skip
        shredded = _lines(connection, ~live, recordings.c.shredded_at.desc())
    rules = [(p, rule.keep, rule.delete_after) for p, rule in ctx.retention.items()]
    return RetentionOverview(rules, held, due, shredded)


def _lines(
    connection: Connection, where: sa.ColumnElement[bool], order: sa.ColumnElement[object]
) -> list[RecordingLine]:
    rows = connection.execute(
        sa.select(recordings, users.c.username.label("agent"))
        .join(users, users.c.id == recordings.c.agent_user_id)
        .where(where)
        .order_by(order)
        .limit(MAX_ROWS)
    ).all()
    return [
        RecordingLine(
            id=row.id,
            agent=row.agent,
            purpose=Purpose(str(row.purpose)),
            started_at=row.started_at,
            delete_at=row.delete_at,
            hold_reason=row.hold_reason,
            hold_by=row.hold_by,
            shredded_at=row.shredded_at,
        )
        for row in rows
    ]
