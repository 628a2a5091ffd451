"""Enrolled agent machines (R12, R23): one-time enrolment tokens, signed requests with replay
protection, heartbeats, revocation and the health view."""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from protocol.api.staff import AuditDetails, DeviceHealth
from protocol.api.vocabulary import DeviceStatus
from protocol.signing import (
    RequestSignatureError,
    parse_signed_headers,
    verify_request_digest,
)
from vault import audit_log
from vault.accounts import find_user, parse_roles
from vault.db.engine import write_transaction
from vault.db.tables import devices, enrol_tokens, request_nonces, users
from vault.errors import Forbidden, NotFound, Unauthenticated, VaultError
from vault.roles import Role

ENROL_TOKEN_LIFETIME = timedelta(days=7)
MAX_CLOCK_SKEW_SECONDS = 300
SILENT_AFTER = timedelta(minutes=15)
BEHIND_AFTER_SEGMENTS = 60
HOSTNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,254}")
PUBLIC_KEY = re.compile(r"callreel-device-pub-1:[A-Za-z0-9_-]{43}")


@dataclass(frozen=True, slots=True)
class Device:
    id: uuid.UUID
    agent_user_id: int
    agent_username: str
    team: str | None


def token_hash(token: str) -> str:
    """What the vault keeps of an enrolment token (one-time or fleet): its SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()


def check_device_identity(public_key: str, hostname: str) -> None:
    """Refuse an enrolling machine's key or name before anything is claimed."""
    if not PUBLIC_KEY.fullmatch(public_key):
        raise VaultError("public_key is not a callreel-device-pub-1 key")
    if not HOSTNAME.fullmatch(hostname):
        raise VaultError("hostname must be 1-255 letters, digits, '.' or '-'")


def insert_device(
    connection: Connection,
    device_id: uuid.UUID,
    *,
    agent_user_id: int,
    public_key: str,
    hostname: str,
    now: datetime,
) -> None:
    connection.execute(
        devices.insert().values(
            id=device_id,
            agent_user_id=agent_user_id,
            public_key=public_key,
            hostname=hostname,
            enrolled_at=now,
        )
    )


def issue_enrol_token(engine: Engine, agent_username: str, *, by: str, now: datetime) -> str:
    """A one-time token that enrols one machine for `agent_username`; logged."""
    token = "cre_" + secrets.token_urlsafe(24)

    def insert(connection: Connection) -> None:
        agent = find_user(connection, agent_username)
        if Role.AGENT not in parse_roles(str(agent.roles)):
            raise VaultError(f"{agent_username} does not have the agent role")
        connection.execute(
            enrol_tokens.insert().values(
                token_hash=token_hash(token),
                agent_user_id=agent.id,
                created_by=by,
                created_at=now,
                expires_at=now + ENROL_TOKEN_LIFETIME,
            )
        )

    audit_log.with_record(
        engine,
        insert,
        at=now,
        actor=by,
        action="enrol-token-create",
        subject=agent_username,
        details=AuditDetails(agent=agent_username),
    )
    return token


def enrol(engine: Engine, token: str, public_key: str, hostname: str, *, now: datetime) -> Device:
    """A new device for the token's agent; the token works once. Logged as device-enrol, by
    the machine that presented the token."""
    check_device_identity(public_key, hostname)
    device_id = uuid.uuid4()

    def claim(connection: Connection) -> str:
        # Claiming the token and creating the device commit together: a token works once.
        claimed = connection.execute(
            enrol_tokens.update()
            .where(
                enrol_tokens.c.token_hash == token_hash(token),
                enrol_tokens.c.used_at.is_(None),
                enrol_tokens.c.expires_at > now,
            )
            .values(used_at=now)
            .returning(enrol_tokens.c.agent_user_id)
        ).first()
        if claimed is None:
            raise Unauthenticated(
                "enrolment token unknown, used or expired: ask an administrator for a new one"
                " (`callreel-vault enroll-token`)"
            )
        insert_device(
            connection,
            device_id,
            agent_user_id=claimed.agent_user_id,
            public_key=public_key,
            hostname=hostname,
            now=now,
        )
        return str(
            connection.execute(
                sa.select(users.c.username).where(users.c.id == claimed.agent_user_id)
            ).scalar_one()
        )

    audit_log.with_record(
        engine,
        claim,
        at=now,
        actor=f"device:{hostname}",
        action="device-enrol",
        subject=str(device_id),
        details=lambda agent: AuditDetails(agent=agent, hostname=hostname),
    )
    return find_device(engine, device_id)


def find_device(engine: Engine, device_id: uuid.UUID) -> Device:
    with engine.connect() as connection:
        row = connection.execute(
            sa.select(devices.c.id, devices.c.agent_user_id, users.c.username, users.c.team)
            .join(users, users.c.id == devices.c.agent_user_id)
            .where(devices.c.id == device_id)
        ).first()
    if row is None:
        raise NotFound(f"no device {device_id}")
    return Device(row.id, row.agent_user_id, row.username, row.team)


@dataclass(frozen=True, slots=True)
class ClaimedDevice:
    """An enrolled, unrevoked device named by well-formed signature headers: worth reading
    the body for, not yet authenticated."""

    device: Device
    public_key: str


def claimed_device(engine: Engine, headers: Mapping[str, str]) -> ClaimedDevice:
    """Checked before the body is read, so that a request without a plausible signature
    costs the vault no more than its headers."""
    try:
        device_id = parse_signed_headers(headers).device_id
    except RequestSignatureError as exc:
        raise Unauthenticated(f"device request refused: {exc}") from None
    with engine.connect() as connection:
        row = connection.execute(
            sa.select(devices, users.c.username, users.c.team, users.c.disabled_at)
            .join(users, users.c.id == devices.c.agent_user_id)
            .where(devices.c.id == device_id)
        ).first()
    if row is None:
        raise Unauthenticated(
            f"unknown device {device_id}: enrol this machine again with a new token"
        )
    if row.revoked_at is not None:
        raise Forbidden(
            f"device {device_id} was revoked; ask an administrator to re-enrol it",
            code="device-revoked",
        )
    if row.disabled_at is not None:
        raise Forbidden(
            f"device {device_id} records {row.username}, who is disabled; ask an"
            " administrator to enable the user",
            code="agent-disabled",
        )
    return ClaimedDevice(
        Device(row.id, row.agent_user_id, row.username, row.team), str(row.public_key)
    )


def authenticate(
    engine: Engine,
    claimed: ClaimedDevice,
    *,
    headers: Mapping[str, str],
    method: str,
    path_and_query: str,
    body_sha256: str,
    now: datetime,
) -> Device:
    """The device that signed this request (its body given by SHA-256), or Unauthenticated
    saying why."""
    try:
        verified = verify_request_digest(
            headers,
            method,
            path_and_query,
            body_sha256,
            public_key_text=claimed.public_key,
            now=now.timestamp(),
            max_skew_seconds=MAX_CLOCK_SKEW_SECONDS,
        )
    except RequestSignatureError as exc:
        raise Unauthenticated(f"device request refused: {exc}") from None
    _remember_nonce(engine, verified.device_id, verified.nonce, now=now)
    return claimed.device


def _remember_nonce(engine: Engine, device_id: uuid.UUID, nonce: str, *, now: datetime) -> None:
    # A nonce is remembered for longer than a timestamp stays acceptable, so a replay is
    # refused either as a repeated nonce or as stale.
    try:
        with write_transaction(engine) as connection:
            connection.execute(
                request_nonces.insert().values(device_id=device_id, nonce=nonce, seen_at=now)
            )
            if secrets.randbelow(100) == 0:
                connection.execute(
                    request_nonces.delete().where(
                        request_nonces.c.seen_at
                        < now - timedelta(seconds=3 * MAX_CLOCK_SKEW_SECONDS)
                    )
                )
    except sa.exc.IntegrityError:
        raise Unauthenticated(
            "device request refused: replayed (this nonce was already used)"
        ) from None


def record_heartbeat(
    engine: Engine,
    device: Device,
    *,
    agent_version: str,
    backlog_segments: int,
    backlog_bytes: int,
    now: datetime,
) -> None:
    with write_transaction(engine) as connection:
        connection.execute(
            devices.update()
            .where(devices.c.id == device.id)
            .values(
                heartbeat_at=now,
                agent_version=agent_version,
                backlog_segments=backlog_segments,
                backlog_bytes=backlog_bytes,
            )
        )


def revoke(engine: Engine, device_id: uuid.UUID, *, now: datetime, by: str) -> None:
    """The device's requests are refused from now on; logged as device-revoke."""

    def update(connection: Connection) -> None:
        done = connection.execute(
            devices.update()
            .where(devices.c.id == device_id, devices.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        if done.rowcount == 0:
            raise NotFound(f"no enrolled, unrevoked device {device_id}")

    audit_log.with_record(
        engine, update, at=now, actor=by, action="device-revoke", subject=str(device_id)
    )


def health(engine: Engine, *, now: datetime) -> list[DeviceHealth]:
    """Every unrevoked device with its last heartbeat and whether it is silent or behind."""
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(devices, users.c.username)
            .join(users, users.c.id == devices.c.agent_user_id)
            .where(devices.c.revoked_at.is_(None))
            .order_by(users.c.username, devices.c.hostname)
        ).all()
    report = []
    for row in rows:
        silent = row.heartbeat_at is None or now - row.heartbeat_at > SILENT_AFTER
        behind = (row.backlog_segments or 0) > BEHIND_AFTER_SEGMENTS
        status = (
            DeviceStatus.SILENT if silent else DeviceStatus.BEHIND if behind else DeviceStatus.OK
        )
        report.append(
            DeviceHealth(
                device_id=row.id,
                agent=row.username,
                hostname=row.hostname,
                agent_version=row.agent_version,
                heartbeat_at=row.heartbeat_at,
                backlog_segments=row.backlog_segments,
                backlog_bytes=row.backlog_bytes,
                status=status,
            )
        )
    return report
