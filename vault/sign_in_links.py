"""One-time sign-in links: a short-lived code that signs its holder into the console once.

Two uses: the embedded default prints one for its local trainer (`callreel-vault sign-in-link`),
so a newcomer needs no password; and the agent's tray asks for one for its own agent (a signed
device request), limited to the agent role, so the browser opens on the agent's own recordings
and nothing else. Only the code's hash is stored; a code works once, within minutes.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from protocol.api.staff import AuditDetails
from vault import accounts, audit_log
from vault.db.tables import sign_in_links, users
from vault.errors import Unauthenticated
from vault.roles import Role

LINK_LIFETIME = timedelta(minutes=10)
CODE_PREFIX = "crl_"
CODE_LENGTH = len(CODE_PREFIX) + 43  # 32 random bytes, base64url
PATH = "/console/sign-in/once/"


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def issue(
    engine: Engine,
    username: str,
    *,
    now: datetime,
    by: str,
    roles: frozenset[Role] | None = None,
    lifetime: timedelta = LINK_LIFETIME,
) -> str:
    """A new code for `username` (limited to `roles` when given); logged, never stored."""
    code = CODE_PREFIX + secrets.token_urlsafe(32)

    def insert(connection: Connection) -> None:
        user = accounts.find_user(connection, username)
        connection.execute(
            sign_in_links.insert().values(
                code_hash=_hash(code),
                user_id=user.id,
                roles=None if roles is None else ",".join(sorted(roles)),
                created_at=now,
                expires_at=now + lifetime,
            )
        )

    audit_log.with_record(
        engine,
        insert,
        at=now,
        actor=by,
        action="sign-in-link",
        subject=username,
        details=AuditDetails(roles=None if roles is None else ",".join(sorted(roles))),
    )
    return code


def redeem(engine: Engine, code: str, *, now: datetime) -> str:
    """A console token for a code not used before and not expired; the code is spent."""
    refused = Unauthenticated(
        "this sign-in link was used already or has expired: ask for a new one (from the tray,"
        " or `callreel-vault sign-in-link`), or sign in with your password"
    )
    if len(code) != CODE_LENGTH or not code.startswith(CODE_PREFIX):
        raise refused
    with engine.begin() as connection:
        row = connection.execute(
            sa.select(sign_in_links, users.c.username)
            .join(users, users.c.id == sign_in_links.c.user_id)
            .where(sign_in_links.c.code_hash == _hash(code))
        ).first()
        if row is None or row.used_at is not None or row.expires_at <= now:
            raise refused
        spent = connection.execute(
            sign_in_links.update()
            .where(sign_in_links.c.code_hash == row.code_hash, sign_in_links.c.used_at.is_(None))
            .values(used_at=now)
        )
        if spent.rowcount != 1:  # another request spent it first
            raise refused
    limit = None if row.roles is None else accounts.parse_roles(str(row.roles))
    return accounts.issue_token(
        engine,
        str(row.username),
        now=now,
        label="one-time link",
        lifetime=accounts.CONSOLE_TOKEN_LIFETIME,
        by=str(row.username),
        action="sign-in",
        roles=limit,
    )
