"""Growing delays after failed sign-ins, per account and per source address (R13).

Each failure is counted in the database, so every vault process sharing it throttles alike.
After a few free failures the key is blocked for a delay that doubles with each further one,
up to a ceiling: guessing slows to a crawl while a person who mistyped waits seconds. A
blocked key is refused before any password is hashed, so a flood costs the vault a database
read per attempt, not 64 MiB of argon2.

Sources get more free failures than accounts: a contact centre's staff may share one address.
Someone can hold an account at the ceiling by failing on purpose; the per-source throttle
slows that too, and an administrator sees it in the vault's log.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from vault.db.engine import write_transaction
from vault.db.tables import sign_in_failures
from vault.errors import TooManyRequests


@dataclass(frozen=True, slots=True)
class ThrottleRule:
    free_failures: int
    first_delay: timedelta
    longest_delay: timedelta
    forget_after: timedelta
    """A key with no failure for this long starts from zero again."""

    def delay_after(self, failures: int) -> timedelta:
        """How long a key is blocked after its `failures`-th failure in a row."""
        beyond = failures - self.free_failures
        if beyond <= 0:
            return timedelta(0)
        doublings = min(beyond - 1, 32)  # bounded: 2**32 seconds is past any ceiling
        delay: timedelta = self.first_delay * (1 << doublings)
        return min(delay, self.longest_delay)


ACCOUNT_RULE = ThrottleRule(
    free_failures=5,
    first_delay=timedelta(seconds=2),
    longest_delay=timedelta(minutes=15),
    forget_after=timedelta(hours=24),
)
SOURCE_RULE = ThrottleRule(
    free_failures=20,
    first_delay=timedelta(seconds=2),
    longest_delay=timedelta(minutes=15),
    forget_after=timedelta(hours=24),
)
MAX_KEY_LENGTH = 120


@dataclass(frozen=True, slots=True)
class ThrottleKey:
    text: str
    rule: ThrottleRule
    what: str
    """How a refusal names it: 'this account', 'this address'."""


def keys_for(username: str, source: str) -> tuple[ThrottleKey, ThrottleKey]:
    return (
        ThrottleKey(f"account:{username}"[:MAX_KEY_LENGTH], ACCOUNT_RULE, "this account"),
        ThrottleKey(f"source:{source}"[:MAX_KEY_LENGTH], SOURCE_RULE, "this address"),
    )


def refuse_if_blocked(
    connection: Connection, keys: tuple[ThrottleKey, ...], *, now: datetime
) -> None:
    """TooManyRequests, with the wait, if any key is blocked now."""
    rows = connection.execute(
        sa.select(sign_in_failures.c.throttle_key, sign_in_failures.c.blocked_until).where(
            sign_in_failures.c.throttle_key.in_([key.text for key in keys])
        )
    ).all()
    blocked = {row.throttle_key: row.blocked_until for row in rows if row.blocked_until > now}
    for key in keys:
        until = blocked.get(key.text)
        if until is not None:
            wait = math.ceil((until - now).total_seconds())
            raise TooManyRequests(
                f"too many failed sign-ins from {key.what}: try again in {wait} s",
                retry_after_s=wait,
                code="sign-in-throttled",
            )


def record_failure(engine: Engine, keys: tuple[ThrottleKey, ...], *, now: datetime) -> int:
    """Count one failure against every key; the first key's failures in a row."""
    for attempt in range(3):
        try:
            return _count_failure(engine, keys, now=now)
        except sa.exc.IntegrityError:
            # Another process counted the first failure of a key at the same moment.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _count_failure(engine: Engine, keys: tuple[ThrottleKey, ...], *, now: datetime) -> int:
    counts = []
    with write_transaction(engine) as connection:
        for key in keys:
            row = connection.execute(
                sa.select(sign_in_failures)
                .where(sign_in_failures.c.throttle_key == key.text)
                .with_for_update()
            ).first()
            failures = 1
            if row is not None and now - row.last_failure_at < key.rule.forget_after:
                failures = int(row.failures) + 1
            values = {
                "failures": failures,
                "last_failure_at": now,
                "blocked_until": now + key.rule.delay_after(failures),
            }
            if row is None:
                connection.execute(
                    sign_in_failures.insert().values(throttle_key=key.text, **values)
                )
            else:
                connection.execute(
                    sign_in_failures.update()
                    .where(sign_in_failures.c.throttle_key == key.text)
                    .values(**values)
                )
            counts.append(failures)
    return counts[0]


def forget(engine: Engine, key: ThrottleKey) -> None:
    """A successful sign-in clears its account's failures (not its address's: one known
    password must not reset the count for guessing others from there)."""
    with write_transaction(engine) as connection:
        connection.execute(
            sign_in_failures.delete().where(sign_in_failures.c.throttle_key == key.text)
        )
