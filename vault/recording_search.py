"""Finding recordings for the console's lists: filters, newest first, paged by position (the
last row seen) rather than by offset, so the hundredth page costs what the first does."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa

from protocol.api.staff import RecordingView
from protocol.api.vocabulary import Purpose, StoredRecordingState
from vault import completeness
from vault.access import describe
from vault.context import Actor, VaultContext
from vault.db.tables import recordings, users
from vault.errors import VaultError
from vault.roles import Permission

PAGE_SIZE = 50
MAX_NAME = 64
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class RecordingFilter:
    agent: str | None = None
    team: str | None = None
    purpose: Purpose | None = None
    state: StoredRecordingState | None = None
    since: date | None = None
    """Started on or after this day (UTC)."""
    until: date | None = None
    """Started on or before this day (UTC)."""

    def __post_init__(self) -> None:
        for name in (self.agent, self.team):
            if name is not None and len(name) > MAX_NAME:
                raise VaultError(f"a name to filter by is at most {MAX_NAME} characters")


@dataclass(frozen=True, slots=True)
class Position:
    """The last recording of a page: the next page starts after it."""

    started_at: datetime
    recording_id: uuid.UUID

    def token(self) -> str:
        micros = (self.started_at - _EPOCH) // timedelta(microseconds=1)
        return f"{micros}.{self.recording_id.hex}"

    @classmethod
    def parse(cls, token: str) -> Position:
        micros, _, hex_id = token.partition(".")
        try:
            if len(micros) > 20:
                micros = "not a position"
            started = _EPOCH + timedelta(microseconds=int(micros))
            return cls(started, uuid.UUID(hex=hex_id))
        except (ValueError, OverflowError, OSError):
            raise VaultError(
                "the page position is not one this vault gave; start again from the first page"
            ) from None


@dataclass(frozen=True, slots=True)
class RecordingPage:
    recordings: list[RecordingView]
    next: Position | None


def search(
    ctx: VaultContext,
    actor: Actor,
    wanted: RecordingFilter,
    *,
    after: Position | None = None,
    limit: int = PAGE_SIZE,
    own_only: bool = False,
) -> RecordingPage:
    """One page of recordings. `own_only`: the actor's own recordings as an agent."""
    actor.require(Permission.OWN_ACCESS_VIEW if own_only else Permission.RECORDING_LIST)
    query = sa.select(recordings, users.c.username.label("agent")).join(
        users, users.c.id == recordings.c.agent_user_id
    )
    if own_only:
        query = query.where(recordings.c.agent_user_id == actor.user_id)
    if wanted.agent:
        query = query.where(users.c.username == wanted.agent)
    if wanted.team:
        query = query.where(users.c.team == wanted.team)
    if wanted.purpose is not None:
        query = query.where(recordings.c.purpose == wanted.purpose.value)
    if wanted.state is not None:
        query = query.where(recordings.c.state == wanted.state.value)
    if wanted.since is not None:
        query = query.where(recordings.c.started_at >= _day_start(wanted.since))
    if wanted.until is not None:
        query = query.where(recordings.c.started_at < _day_start(wanted.until) + timedelta(days=1))
    if after is not None:
        query = query.where(
            sa.or_(
                recordings.c.started_at < after.started_at,
                sa.and_(
                    recordings.c.started_at == after.started_at,
                    recordings.c.id < after.recording_id,
                ),
            )
        )
    query = query.order_by(recordings.c.started_at.desc(), recordings.c.id.desc()).limit(limit + 1)
    with ctx.engine.connect() as connection:
        rows = connection.execute(query).all()
        page = rows[:limit]
        stored = completeness.stored_indices(connection, [row.id for row in page])
    views = [describe(row, stored[row.id]) for row in page]
    last = page[-1] if len(rows) > limit else None
    return RecordingPage(views, None if last is None else Position(last.started_at, last.id))


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)
