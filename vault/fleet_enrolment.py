"""Fleet enrolment (R12, R22): one token in IT's policy enrols a whole fleet of machines.

An administrator makes a fleet token for one team, with a use count and an expiry, and may
revoke it. Each machine and OS user presents it once, with a new device key and the login
name: the name without its domain (`CORP\\alice`, `alice@corp.example` -> `alice`) is matched,
ignoring case, to an agent account of the token's team, and the machine gets its own device
identity for that agent. The token never authenticates anything else. An unknown name is
refused with what to do, and kept as a pending request for administrators, unless the token
may create agent accounts. Every enrolment, and every refusal of a valid token, is logged.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NoReturn

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from protocol.api.staff import AuditDetails
from vault import audit_log
from vault.accounts import USERNAME, add_user, parse_roles
from vault.db.tables import enrolment_requests, fleet_tokens, users
from vault.devices import Device, check_device_identity, find_device, insert_device, token_hash
from vault.errors import Conflict, Forbidden, NotFound, Unauthenticated, VaultError
from vault.roles import Role

FLEET_TOKEN_PREFIX = "crf_"  # noqa: S105 - a prefix that names the kind of token
FLEET_TOKEN = re.compile(r"crf_[A-Za-z0-9_-]{32}")
MAX_USES = 100_000
MAX_VALID_FOR = timedelta(days=366)
MAX_LOGIN_CHARS = 256
MAX_PENDING_PER_TOKEN = 1000
"""A holder of a valid token could name endless accounts; past this, refusals are not kept."""
TEAM = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}")


@dataclass(frozen=True, slots=True)
class FleetToken:
    id: uuid.UUID
    team: str
    label: str
    max_uses: int
    uses: int
    creates_agents: bool
    created_by: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    revoked_by: str | None

    def refusal(self, now: datetime) -> str | None:
        """Why the token cannot enrol now, for the machine that presented it; None if it can."""
        fix = "ask your administrator for a new fleet token and update the policy"
        if self.revoked_at is not None:
            return f"this fleet enrolment token was revoked on {self.revoked_at:%Y-%m-%d}; {fix}"
        if self.expires_at <= now:
            return f"this fleet enrolment token expired on {self.expires_at:%Y-%m-%d}; {fix}"
        if self.uses >= self.max_uses:
            return (
                f"this fleet enrolment token is used up ({self.uses} of {self.max_uses}"
                f" enrolments); {fix}"
            )
        return None


@dataclass(frozen=True, slots=True)
class PendingEnrolment:
    account: str
    login: str
    hostname: str
    team: str
    token_id: uuid.UUID
    first_at: datetime
    last_at: datetime
    attempts: int


def account_name(login: str) -> str:
    """The agent account a login name maps to: without its domain, in lower case."""
    if not login or len(login) > MAX_LOGIN_CHARS or any(ord(ch) < 32 for ch in login):
        raise VaultError("the login name must be 1-256 printable characters")
    name = login.rsplit("\\", 1)[-1].split("@", 1)[0].strip().lower()
    if not USERNAME.fullmatch(name):
        raise VaultError(
            f"login name {login!r} does not make a Callreel user name (1-64 letters, digits,"
            " '.', '_' or '-'); ask your administrator"
        )
    return name


def _from_row(row: sa.Row[tuple[object, ...]]) -> FleetToken:
    values = row._mapping
    return FleetToken(
        id=values["id"],
        team=values["team"],
        label=values["label"],
        max_uses=values["max_uses"],
        uses=values["uses"],
        creates_agents=values["creates_agents"],
        created_by=values["created_by"],
        created_at=values["created_at"],
        expires_at=values["expires_at"],
        revoked_at=values["revoked_at"],
        revoked_by=values["revoked_by"],
    )


def create_fleet_token(
    engine: Engine,
    *,
    team: str,
    max_uses: int,
    valid_for: timedelta,
    creates_agents: bool,
    label: str,
    by: str,
    now: datetime,
) -> tuple[str, FleetToken]:
    """A new fleet token (shown once, only its hash is kept) and what it allows; logged."""
    if not TEAM.fullmatch(team):
        raise VaultError("team must be 1-64 letters, digits, spaces, '.', '_' or '-'")
    if not 1 <= max_uses <= MAX_USES:
        raise VaultError(f"uses must be from 1 to {MAX_USES}")
    if not timedelta(hours=1) <= valid_for <= MAX_VALID_FOR:
        raise VaultError("a fleet token is valid for 1 hour to 366 days")
    label = label.strip()
    if len(label) > 120 or any(ord(ch) < 32 for ch in label):
        raise VaultError("label must be at most 120 printable characters")
    token = FLEET_TOKEN_PREFIX + secrets.token_urlsafe(24)
    token_id = uuid.uuid4()

    def insert(connection: Connection) -> None:
        connection.execute(
            fleet_tokens.insert().values(
                id=token_id,
                token_hash=token_hash(token),
                team=team,
                label=label,
                max_uses=max_uses,
                uses=0,
                creates_agents=creates_agents,
                created_by=by,
                created_at=now,
                expires_at=now + valid_for,
            )
        )

    audit_log.with_record(
        engine,
        insert,
        at=now,
        actor=by,
        action="fleet-token-create",
        subject=str(token_id),
        details=AuditDetails(team=team, label=label or None, calls=str(max_uses)),
    )
    return token, find_fleet_token(engine, token_id)


def find_fleet_token(engine: Engine, token_id: uuid.UUID) -> FleetToken:
    with engine.connect() as connection:
        row = connection.execute(
            sa.select(fleet_tokens).where(fleet_tokens.c.id == token_id)
        ).first()
    if row is None:
        raise NotFound(f"no fleet token {token_id}")
    return _from_row(row)


def list_fleet_tokens(engine: Engine) -> list[FleetToken]:
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(fleet_tokens).order_by(fleet_tokens.c.created_at.desc())
        ).all()
    return [_from_row(row) for row in rows]


def revoke_fleet_token(engine: Engine, token_id: uuid.UUID, *, by: str, now: datetime) -> None:
    """No more enrolments with it; machines it already enrolled keep their own identities."""

    def revoke(connection: Connection) -> str:
        row = connection.execute(
            fleet_tokens.update()
            .where(fleet_tokens.c.id == token_id, fleet_tokens.c.revoked_at.is_(None))
            .values(revoked_at=now, revoked_by=by)
            .returning(fleet_tokens.c.team)
        ).first()
        if row is None:
            raise NotFound(f"no unrevoked fleet token {token_id}")
        return str(row.team)

    audit_log.with_record(
        engine,
        revoke,
        at=now,
        actor=by,
        action="fleet-token-revoke",
        subject=str(token_id),
        details=lambda team: AuditDetails(team=team),
    )


def _valid_token(connection: Connection, token: str, now: datetime) -> FleetToken:
    row = connection.execute(
        sa.select(fleet_tokens).where(fleet_tokens.c.token_hash == token_hash(token))
    ).first()
    if row is None:
        raise Unauthenticated(
            "unknown fleet enrolment token: check the enrolment_token in the policy, or ask"
            " your administrator for a new one"
        )
    fleet_token = _from_row(row)
    refusal = fleet_token.refusal(now)
    if refusal is not None:
        raise Forbidden(refusal)
    return fleet_token


@dataclass(frozen=True, slots=True)
class _Account:
    id: int
    username: str
    roles: str
    team: str | None
    disabled: bool


def _agent_account(connection: Connection, account: str) -> _Account | None:
    row = connection.execute(
        sa.select(
            users.c.id, users.c.username, users.c.roles, users.c.team, users.c.disabled_at
        ).where(sa.func.lower(users.c.username) == account)
    ).first()
    if row is None:
        return None
    return _Account(row.id, row.username, row.roles, row.team, row.disabled_at is not None)


@dataclass(frozen=True, slots=True)
class _Request:
    """One machine and OS user presenting a valid fleet token."""

    fleet_token: FleetToken
    account: str
    login: str
    hostname: str
    public_key: str
    now: datetime

    def details(self, reason: str | None = None) -> AuditDetails:
        return AuditDetails(
            agent=self.account,
            hostname=self.hostname,
            login=self.login,
            team=self.fleet_token.team,
            token=str(self.fleet_token.id),
            reason=reason,
        )


def _remember_refusal(connection: Connection, request: _Request) -> None:
    key = (
        enrolment_requests.c.token_id == request.fleet_token.id,
        enrolment_requests.c.account == request.account,
        enrolment_requests.c.hostname == request.hostname,
    )
    existing = connection.execute(sa.select(enrolment_requests.c.attempts).where(*key)).first()
    if existing is not None:
        connection.execute(
            enrolment_requests.update()
            .where(*key)
            .values(last_at=request.now, attempts=existing.attempts + 1, login=request.login)
        )
        return
    kept = connection.execute(
        sa.select(sa.func.count()).where(enrolment_requests.c.token_id == request.fleet_token.id)
    ).scalar_one()
    if kept < MAX_PENDING_PER_TOKEN:
        connection.execute(
            enrolment_requests.insert().values(
                token_id=request.fleet_token.id,
                account=request.account,
                login=request.login,
                hostname=request.hostname,
                first_at=request.now,
                last_at=request.now,
                attempts=1,
            )
        )


def _refuse(engine: Engine, request: _Request, why: str, *, pending: bool = False) -> NoReturn:
    """Log the refusal (and keep a `pending` one for administrators), then refuse with `why`."""

    def keep(connection: Connection) -> None:
        if pending:
            _remember_refusal(connection, request)

    audit_log.with_record(
        engine,
        keep,
        at=request.now,
        actor=f"device:{request.hostname}",
        action="device-enrol-refused",
        subject=request.account,
        details=request.details(why),
    )
    raise Forbidden(why)


def enrol_with_fleet_token(
    engine: Engine, token: str, public_key: str, hostname: str, login: str, *, now: datetime
) -> Device:
    """A new device for the agent that `login` names, if the token allows it."""
    if not FLEET_TOKEN.fullmatch(token):
        raise Unauthenticated("a fleet enrolment token is crf_ and 32 more characters")
    check_device_identity(public_key, hostname)
    account = account_name(login)
    with engine.connect() as connection:
        fleet_token = _valid_token(connection, token, now)
        found = _agent_account(connection, account)
    request = _Request(fleet_token, account, login, hostname, public_key, now)
    if found is None and fleet_token.creates_agents:
        with contextlib.suppress(Conflict):  # another machine of the same person just made it
            add_user(engine, account, frozenset({Role.AGENT}), now=now, team=fleet_token.team,
                     by=f"fleet-token:{fleet_token.id}")  # fmt: skip
        with engine.connect() as connection:
            found = _agent_account(connection, account)
    if found is None:
        _refuse(engine, request,
                f"there is no Callreel agent account {account!r} (from the login {login!r}):"
                " your administrator must add it; your request is listed for them",
                pending=True)  # fmt: skip
    if found.disabled or Role.AGENT not in parse_roles(found.roles):
        _refuse(engine, request,
                f"the Callreel account {found.username!r} is not an enabled agent account;"
                " ask your administrator")  # fmt: skip
    if found.team != fleet_token.team:
        _refuse(engine, request,
                f"the agent {found.username!r} is not in team {fleet_token.team!r}, which this"
                " fleet token enrols; ask your administrator")  # fmt: skip
    return _claim(engine, request, found.id, found.username)


def _claim(engine: Engine, request: _Request, agent_user_id: int, agent: str) -> Device:
    device_id = uuid.uuid4()
    now = request.now

    def claim(connection: Connection) -> None:
        # One use taken and the device made together, and only while the token still allows
        # it: two machines racing for the last use cannot both have it.
        taken = connection.execute(
            fleet_tokens.update()
            .where(
                fleet_tokens.c.id == request.fleet_token.id,
                fleet_tokens.c.revoked_at.is_(None),
                fleet_tokens.c.expires_at > now,
                fleet_tokens.c.uses < fleet_tokens.c.max_uses,
            )
            .values(uses=fleet_tokens.c.uses + 1)
        ).rowcount
        if taken != 1:
            raise Forbidden(
                "this fleet enrolment token was used up, revoked or expired a moment ago;"
                " ask your administrator for a new one"
            )
        insert_device(
            connection,
            device_id,
            agent_user_id=agent_user_id,
            public_key=request.public_key,
            hostname=request.hostname,
            now=now,
        )
        connection.execute(
            enrolment_requests.delete().where(enrolment_requests.c.account == request.account)
        )

    audit_log.with_record(
        engine,
        claim,
        at=now,
        actor=f"device:{request.hostname}",
        action="device-enrol",
        subject=str(device_id),
        details=request.details(),
    )
    return find_device(engine, device_id)


def pending_enrolments(engine: Engine) -> list[PendingEnrolment]:
    """Refused requests of valid fleet tokens, newest first, for administrators."""
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(enrolment_requests, fleet_tokens.c.team)
            .join(fleet_tokens, fleet_tokens.c.id == enrolment_requests.c.token_id)
            .order_by(enrolment_requests.c.last_at.desc())
        ).all()
    return [
        PendingEnrolment(
            account=row.account,
            login=row.login,
            hostname=row.hostname,
            team=row.team,
            token_id=row.token_id,
            first_at=row.first_at,
            last_at=row.last_at,
            attempts=row.attempts,
        )
        for row in rows
    ]
