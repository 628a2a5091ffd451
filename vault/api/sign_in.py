"""Signing in with a password, with its two costs bounded: guesses are throttled per account
and per address before any hash is computed (vault/sign_in_throttle.py), and at most a few
argon2 checks run at once, the rest waiting in the event loop rather than in threads, where
they would hold the workers every other request needs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi.concurrency import run_in_threadpool

from vault import accounts, sign_in_throttle
from vault.context import VaultContext
from vault.errors import TooManyRequests, Unauthenticated

log = logging.getLogger("callreel.vault")

WAITING_PER_CHECK = 16
"""Sign-ins allowed to queue per concurrent check; beyond that the vault answers 429 at once."""


class PasswordChecks:
    def __init__(self, at_once: int) -> None:
        self._slots = asyncio.Semaphore(at_once)
        self._most_waiting = at_once * WAITING_PER_CHECK
        self._waiting = 0

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Wait for a turn to check a password (in the event loop), or TooManyRequests when
        too many are waiting already."""
        if self._waiting >= self._most_waiting:
            raise TooManyRequests(
                "the vault is busy checking other sign-ins: try again in a second",
                retry_after_s=1,
                code="sign-in-busy",
            )
        self._waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1
        try:
            yield
        finally:
            self._slots.release()


async def sign_in(
    ctx: VaultContext, checks: PasswordChecks, username: str, password: str, *, source: str
) -> str:
    """A console token for a correct password; Unauthenticated or TooManyRequests otherwise."""
    keys = sign_in_throttle.keys_for(username, source)

    def unless_throttled() -> tuple[str, bool]:
        with ctx.engine.connect() as connection:
            sign_in_throttle.refuse_if_blocked(connection, keys, now=ctx.clock())
            return accounts.password_hash_for(connection, username)

    await run_in_threadpool(unless_throttled)  # refused at once, before queueing
    async with checks.turn():
        # Again: failures counted while this one waited may have blocked it meanwhile.
        stored_hash, may_sign_in = await run_in_threadpool(unless_throttled)
        matches = await run_in_threadpool(accounts.password_matches, stored_hash, password)
        if not (matches and may_sign_in):
            # Counted before the next in line checks whether it is blocked.
            failures = await run_in_threadpool(
                sign_in_throttle.record_failure, ctx.engine, keys, now=ctx.clock()
            )
    if not (matches and may_sign_in):
        log.warning(
            "failed sign-in for account %r from %s (%d in a row)", username, source, failures
        )
        raise Unauthenticated("wrong user name or password")
    await run_in_threadpool(sign_in_throttle.forget, ctx.engine, keys[0])
    return await run_in_threadpool(
        accounts.issue_console_token, ctx.engine, username, now=ctx.clock()
    )
