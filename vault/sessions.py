"""Training sessions (R1): a trainer allows a number of recorded calls, for one purpose, of one
agent or a team, until an expiry. Agents fetch the sessions that apply to them; the vault
counts the recordings against the quota too."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from protocol.api.agent import TrainingSessionView
from protocol.api.staff import AuditDetails
from protocol.api.vocabulary import MAX_NOTICE_CHARS, Purpose
from vault import audit_log
from vault.accounts import find_user, parse_roles
from vault.context import Actor
from vault.db.engine import write_transaction
from vault.db.tables import training_sessions, users
from vault.devices import MAX_CLOCK_SKEW_SECONDS, Device
from vault.errors import Forbidden, NotFound, VaultError
from vault.purposes import RETENTION
from vault.roles import Permission, Role

MAX_CALLS = 100
MAX_LIFETIME = timedelta(days=31)


@dataclass(frozen=True, slots=True)
class SessionRequest:
    purpose: Purpose
    calls: int
    expires_at: datetime
    notice_text: str
    agent: str | None = None
    team: str | None = None


def _check(request: SessionRequest, now: datetime) -> None:
    if (request.agent is None) == (request.team is None):
        raise VaultError("name exactly one of agent or team")
    if not 1 <= request.calls <= MAX_CALLS:
        raise VaultError(f"calls must be between 1 and {MAX_CALLS}")
    if request.expires_at.tzinfo is None:
        raise VaultError("expires_at needs a time zone, e.g. 2026-11-23T17:00:00Z")
    if not now < request.expires_at <= now + MAX_LIFETIME:
        raise VaultError(f"expires_at must be in the future and within {MAX_LIFETIME.days} days")
    if not request.notice_text.strip() or len(request.notice_text) > MAX_NOTICE_CHARS:
        raise VaultError(f"notice_text must be 1-{MAX_NOTICE_CHARS} characters")


def start(engine: Engine, actor: Actor, request: SessionRequest, *, now: datetime) -> uuid.UUID:
    actor.require(Permission.SESSION_START)
    _check(request, now)
    session_id = uuid.uuid4()
    with write_transaction(engine) as connection:
        agent_id = None
        if request.agent is not None:
            agent = find_user(connection, request.agent)
            if Role.AGENT not in parse_roles(str(agent.roles)):
                raise VaultError(f"{request.agent} does not have the agent role")
            agent_id = agent.id
        connection.execute(
            training_sessions.insert().values(
                id=session_id,
                trainer_id=actor.user_id,
                agent_user_id=agent_id,
                team=request.team,
                calls_allowed=request.calls,
                calls_used=0,
                purpose=request.purpose.value,
                notice_text=request.notice_text,
                created_at=now,
                expires_at=request.expires_at,
            )
        )
    audit_log.append(
        engine,
        at=now,
        actor=actor.username,
        action="session-start",
        subject=str(session_id),
        details=AuditDetails(
            purpose=request.purpose.value,
            calls=str(request.calls),
            agent=request.agent or "",
            team=request.team or "",
        ),
    )
    return session_id


def _describe(row: sa.Row[tuple[object, ...]], now: datetime) -> TrainingSessionView:
    # Shown on the agent's notice (R3): how long the recording is kept.
    purpose = Purpose(str(row.purpose))
    rule = RETENTION[purpose]
    active = row.ended_at is None and row.expires_at > now and row.calls_used < row.calls_allowed
    return TrainingSessionView(
        id=row.id,
        trainer=row.trainer,
        agent=row.agent,
        team=row.team,
        purpose=purpose,
        calls_allowed=row.calls_allowed,
        calls_left=row.calls_allowed - row.calls_used,
        notice_text=row.notice_text,
        created_at=row.created_at,
        expires_at=row.expires_at,
        ended_at=row.ended_at,
        active=active,
        keep_days=rule.keep.days,
        delete_days=rule.delete_after.days,
    )


def _query() -> sa.Select[tuple[object, ...]]:
    trainer = users.alias("trainer")
    agent = users.alias("agent")
    return (
        sa.select(
            training_sessions,
            trainer.c.username.label("trainer"),
            agent.c.username.label("agent"),
        )
        .join(trainer, trainer.c.id == training_sessions.c.trainer_id)
        .outerjoin(agent, agent.c.id == training_sessions.c.agent_user_id)
        .order_by(training_sessions.c.created_at.desc())
    )


def list_sessions(engine: Engine, actor: Actor, *, now: datetime) -> list[TrainingSessionView]:
    actor.require(Permission.SESSION_LIST)
    with engine.connect() as connection:
        return [_describe(row, now) for row in connection.execute(_query())]


def end(engine: Engine, actor: Actor, session_id: uuid.UUID, *, now: datetime) -> None:
    actor.require(Permission.SESSION_END)
    with write_transaction(engine) as connection:
        row = connection.execute(
            sa.select(training_sessions).where(training_sessions.c.id == session_id)
        ).first()
        if row is None:
            raise NotFound(f"no training session {session_id}")
        if Role.ADMINISTRATOR not in actor.roles and row.trainer_id != actor.user_id:
            raise Forbidden("only the trainer who started a session (or an administrator) ends it")
        if row.ended_at is None:
            connection.execute(
                training_sessions.update()
                .where(training_sessions.c.id == session_id)
                .values(ended_at=now)
            )
    audit_log.append(
        engine, at=now, actor=actor.username, action="session-end", subject=str(session_id)
    )


def _applies_to(device: Device) -> sa.ColumnElement[bool]:
    clause = training_sessions.c.agent_user_id == device.agent_user_id
    if device.team is not None:
        clause = sa.or_(clause, training_sessions.c.team == device.team)
    return clause


def for_device(engine: Engine, device: Device, *, now: datetime) -> list[TrainingSessionView]:
    """The active sessions that apply to this device's agent."""
    with engine.connect() as connection:
        rows = connection.execute(
            _query().where(
                _applies_to(device),
                training_sessions.c.ended_at.is_(None),
                training_sessions.c.expires_at > now,
                training_sessions.c.calls_used < training_sessions.c.calls_allowed,
            )
        )
        return [_describe(row, now) for row in rows]


def claim_call(
    connection: Connection, device: Device, session_id: uuid.UUID, started_at: datetime
) -> sa.Row[tuple[object, ...]]:
    """Count one recorded call against the session; Forbidden when it does not apply to the
    device, has ended or expired before the call, or its quota is used up."""
    row = connection.execute(
        sa.select(training_sessions).where(
            training_sessions.c.id == session_id, _applies_to(device)
        )
    ).first()
    if row is None:
        raise NotFound(f"no training session {session_id} for agent {device.agent_username}")
    if row.ended_at is not None and row.ended_at <= started_at:
        raise Forbidden(f"training session {session_id} had ended when this call started")
    # The agent's clock may run a little behind the vault's.
    opened = row.created_at - timedelta(seconds=MAX_CLOCK_SKEW_SECONDS)
    if not opened <= started_at < row.expires_at:
        raise Forbidden(f"the call did not start while training session {session_id} was open")
    claimed = connection.execute(
        training_sessions.update()
        .where(
            training_sessions.c.id == session_id,
            training_sessions.c.calls_used < training_sessions.c.calls_allowed,
        )
        .values(calls_used=training_sessions.c.calls_used + 1)
    )
    if claimed.rowcount == 0:
        raise Forbidden(
            f"training session {session_id} has no calls left: this recording is refused;"
            " the agent discards it"
        )
    return row
