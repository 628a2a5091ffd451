"""People (R13): users with roles, memory-hard password hashes, and bearer tokens for the
console and the command line."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.engine import Connection, Engine

from protocol.api.staff import AuditDetails
from vault import audit_log
from vault.context import Actor
from vault.db.tables import api_tokens, users
from vault.errors import Conflict, NotFound, Unauthenticated, VaultError
from vault.roles import Role

USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
MIN_PASSWORD_LENGTH = 12
CONSOLE_TOKEN_LIFETIME = timedelta(hours=8)
CLI_TOKEN_LIFETIME = timedelta(days=90)
TOKEN_ID_LENGTH = 16
TOKEN_ID = re.compile(f"[0-9a-f]{{{TOKEN_ID_LENGTH}}}")

# argon2id with RFC 9106's second recommended profile (64 MiB, 3 passes): memory-hard, so
# stolen hashes are expensive to attack on GPUs.
_hasher = PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=4)
# Verifying against this when the user is unknown keeps the timing the same either way.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def parse_roles(text: str) -> frozenset[Role]:
    roles: set[Role] = set()
    for name in filter(None, (part.strip() for part in text.split(","))):
        try:
            roles.add(Role(name))
        except ValueError:
            known = ", ".join(r.value for r in Role)
            raise VaultError(f"unknown role {name!r}; roles are: {known}") from None
    return frozenset(roles)


def _check_username(username: str) -> None:
    if not USERNAME.fullmatch(username):
        raise VaultError(
            f"invalid user name {username!r}: use 1-64 lower-case letters, digits, '.', '_'"
            " or '-', starting with a letter or digit"
        )


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise VaultError(f"password too short: use at least {MIN_PASSWORD_LENGTH} characters")
    return _hasher.hash(password)


def add_user(
    engine: Engine,
    username: str,
    roles: frozenset[Role],
    *,
    now: datetime,
    by: str,
    password: str | None = None,
    team: str | None = None,
) -> int:
    """Add a person; logged as user-add by `by`, whichever way it is made."""
    _check_username(username)
    if not roles:
        raise VaultError("a user needs at least one role")
    password_hash = None if password is None else hash_password(password)

    def insert(connection: Connection) -> int:
        result = connection.execute(
            users.insert().values(
                username=username,
                password_hash=password_hash,
                roles=",".join(sorted(roles)),
                team=team,
                created_at=now,
            )
        )
        key = result.inserted_primary_key
        if key is None:
            raise VaultError(f"the database did not return an id for user {username!r}")
        return int(key[0])

    try:
        _, user_id = audit_log.with_record(
            engine,
            insert,
            at=now,
            actor=by,
            action="user-add",
            subject=username,
            details=AuditDetails(roles=",".join(sorted(roles)), team=team),
        )
    except sa.exc.IntegrityError:
        raise Conflict(f"user {username!r} already exists") from None
    return user_id


def find_user(
    connection: Connection, username: str, *, include_disabled: bool = False
) -> sa.Row[tuple[object, ...]]:
    row = connection.execute(sa.select(users).where(users.c.username == username)).first()
    if row is None:
        raise NotFound(f"no user {username!r}; add it with `callreel-vault user add`")
    if row.disabled_at is not None and not include_disabled:
        raise NotFound(
            f"user {username!r} is disabled; enable it with `callreel-vault user enable`"
        )
    return row


def _actor(row: sa.Row[tuple[object, ...]], limit: str | None = None) -> Actor:
    """The user as `row` holds them; with `limit` (a token's roles), only those roles."""
    roles = parse_roles(str(row.roles))
    if limit is not None:
        roles &= parse_roles(limit)
    return Actor(
        user_id=int(row.id),
        username=str(row.username),
        roles=roles,
        team=None if row.team is None else str(row.team),
    )


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_id(token_hash: str) -> str:
    """How a token is named in lists and the log: a prefix of its hash, which reveals
    nothing of the token."""
    return token_hash[:TOKEN_ID_LENGTH]


def issue_token(
    engine: Engine,
    username: str,
    *,
    now: datetime,
    label: str,
    lifetime: timedelta,
    by: str,
    action: str = "token-create",
    roles: frozenset[Role] | None = None,
) -> str:
    """A new bearer token for `username`; only its hash is stored. Logged as `action`. With
    `roles`, the token acts with only those of the user's roles."""
    token = "crt_" + secrets.token_urlsafe(32)
    token_hash = _token_hash(token)

    def insert(connection: Connection) -> None:
        user = find_user(connection, username)
        connection.execute(
            api_tokens.insert().values(
                token_hash=token_hash,
                user_id=user.id,
                label=label,
                created_at=now,
                expires_at=now + lifetime,
                roles=None if roles is None else ",".join(sorted(roles)),
            )
        )

    audit_log.with_record(
        engine,
        insert,
        at=now,
        actor=by,
        action=action,
        subject=username,
        details=AuditDetails(token=token_id(token_hash), label=label),
    )
    return token


def password_hash_for(connection: Connection, username: str) -> tuple[str, bool]:
    """The stored hash to check a sign-in against, and whether the account may sign in at
    all. An unknown, passwordless or disabled account gets a dummy hash, so that checking it
    takes as long and says nothing."""
    row = connection.execute(sa.select(users).where(users.c.username == username)).first()
    if row is None or row.password_hash is None:
        return _DUMMY_HASH, False
    return str(row.password_hash), row.disabled_at is None


def password_matches(stored_hash: str, password: str) -> bool:
    """The expensive part of a sign-in (64 MiB, tens of milliseconds): callers bound how many
    run at once (vault/api/sign_in.py)."""
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def issue_console_token(engine: Engine, username: str, *, now: datetime) -> str:
    return issue_token(
        engine,
        username,
        now=now,
        label="console",
        lifetime=CONSOLE_TOKEN_LIFETIME,
        by=username,
        action="sign-in",
    )


def actor_for_token(connection: Connection, token: str, *, now: datetime) -> Actor:
    row = connection.execute(
        sa.select(users, api_tokens.c.expires_at, api_tokens.c.roles.label("token_roles"))
        .join(api_tokens, api_tokens.c.user_id == users.c.id)
        .where(api_tokens.c.token_hash == _token_hash(token))
    ).first()
    if row is None:
        raise Unauthenticated("unknown token: sign in again or create a new command-line token")
    if row.expires_at <= now:
        raise Unauthenticated("token expired: sign in again or create a new command-line token")
    if row.disabled_at is not None:
        raise Unauthenticated(f"user {row.username} is disabled")
    return _actor(row, None if row.token_roles is None else str(row.token_roles))


@dataclass(frozen=True, slots=True)
class TokenInfo:
    id: str
    label: str
    created_at: datetime
    expires_at: datetime
    token_hash: str


def tokens_of(engine: Engine, username: str, *, now: datetime) -> list[TokenInfo]:
    """The user's unexpired tokens, newest first."""
    with engine.connect() as connection:
        user = find_user(connection, username)
        rows = connection.execute(
            sa.select(api_tokens)
            .where(api_tokens.c.user_id == user.id, api_tokens.c.expires_at > now)
            .order_by(api_tokens.c.created_at.desc())
        ).all()
    return [
        TokenInfo(
            token_id(str(row.token_hash)),
            str(row.label),
            row.created_at,
            row.expires_at,
            str(row.token_hash),
        )
        for row in rows
    ]


def current_token_id(token: str) -> str:
    return token_id(_token_hash(token))


def revoke_token(
    engine: Engine,
    username: str,
    revoked_id: str,
    *,
    now: datetime,
    by: str,
    action: str = "token-revoke",
) -> None:
    """End one of `username`'s tokens at once; NotFound if it has none by that id."""
    if not TOKEN_ID.fullmatch(revoked_id):
        raise VaultError(f"a token id is {TOKEN_ID_LENGTH} lower-case hex characters")

    def delete(connection: Connection) -> None:
        user = find_user(connection, username, include_disabled=True)
        deleted = connection.execute(
            api_tokens.delete().where(
                api_tokens.c.user_id == user.id,
                api_tokens.c.token_hash.startswith(revoked_id, autoescape=True),
            )
        )
        if deleted.rowcount == 0:
            raise NotFound(
                f"{username} has no token {revoked_id}; list them with `callreel-vault token"
                " list` or GET /api/v1/me/tokens"
            )

    audit_log.with_record(
        engine,
        delete,
        at=now,
        actor=by,
        action=action,
        subject=username,
        details=AuditDetails(token=revoked_id),
    )


def set_disabled(engine: Engine, username: str, disabled: bool, *, now: datetime, by: str) -> int:
    """Disable a user (every token ends at once and no new one is issued) or enable them
    again; the number of tokens ended."""
    if disabled and username == by:
        raise VaultError("you cannot disable yourself; ask another administrator")

    def change(connection: Connection) -> int:
        user = find_user(connection, username, include_disabled=True)
        connection.execute(
            users.update()
            .where(users.c.id == user.id)
            .values(disabled_at=now if disabled else None)
        )
        if not disabled:
            return 0
        return int(
            connection.execute(api_tokens.delete().where(api_tokens.c.user_id == user.id)).rowcount
        )

    _, ended = audit_log.with_record(
        engine,
        change,
        at=now,
        actor=by,
        action="user-disable" if disabled else "user-enable",
        subject=username,
    )
    return ended
