"""People (R13): users with roles, memory-hard password hashes, and bearer tokens for the
console and the command line."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.engine import Connection, Engine

from vault.context import Actor
from vault.db.engine import write_transaction
from vault.db.tables import api_tokens, users
from vault.errors import Conflict, NotFound, Unauthenticated, VaultError
from vault.roles import Role

USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
MIN_PASSWORD_LENGTH = 12
CONSOLE_TOKEN_LIFETIME = timedelta(hours=8)
CLI_TOKEN_LIFETIME = timedelta(days=90)

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
    password: str | None = None,
    team: str | None = None,
) -> int:
    _check_username(username)
    if not roles:
        raise VaultError("a user needs at least one role")
    password_hash = None if password is None else hash_password(password)
    try:
        with write_transaction(engine) as connection:
            result = connection.execute(
                users.insert().values(
                    username=username,
                    password_hash=password_hash,
                    roles=",".join(sorted(roles)),
                    team=team,
                    created_at=now,
                )
            )
    except sa.exc.IntegrityError:
        raise Conflict(f"user {username!r} already exists") from None
    key = result.inserted_primary_key
    if key is None:
        raise VaultError(f"the database did not return an id for user {username!r}")
    return int(key[0])


def find_user(connection: Connection, username: str) -> sa.Row[tuple[object, ...]]:
    row = connection.execute(sa.select(users).where(users.c.username == username)).first()
    if row is None or row.disabled_at is not None:
        raise NotFound(f"no user {username!r}; add it with `callreel-vault user add`")
    return row


def _actor(row: sa.Row[tuple[object, ...]]) -> Actor:
    return Actor(
        user_id=int(row.id),
        username=str(row.username),
        roles=parse_roles(str(row.roles)),
        team=None if row.team is None else str(row.team),
    )


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(
    engine: Engine, username: str, *, now: datetime, label: str, lifetime: timedelta
) -> str:
    """A new bearer token for `username`; only its hash is stored."""
    token = "crt_" + secrets.token_urlsafe(32)
    with write_transaction(engine) as connection:
        user = find_user(connection, username)
        connection.execute(
            api_tokens.insert().values(
                token_hash=_token_hash(token),
                user_id=user.id,
                label=label,
                created_at=now,
                expires_at=now + lifetime,
            )
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
    return issue_token(engine, username, now=now, label="console", lifetime=CONSOLE_TOKEN_LIFETIME)


def actor_for_token(connection: Connection, token: str, *, now: datetime) -> Actor:
    row = connection.execute(
        sa.select(users, api_tokens.c.expires_at)
        .join(api_tokens, api_tokens.c.user_id == users.c.id)
        .where(api_tokens.c.token_hash == _token_hash(token))
    ).first()
    if row is None:
        raise Unauthenticated("unknown token: sign in again or create a new command-line token")
    if row.expires_at <= now:
        raise Unauthenticated("token expired: sign in again or create a new command-line token")
    if row.disabled_at is not None:
        raise Unauthenticated(f"user {row.username} is disabled")
    return _actor(row)


def revoke_token(engine: Engine, token: str) -> None:
    with write_transaction(engine) as connection:
        connection.execute(api_tokens.delete().where(api_tokens.c.token_hash == _token_hash(token)))
