"""Signing in with a password, with its two costs bounded: guesses are throttled per account
and per address before any hash is computed (vault/sign_in_throttle.py), and at most a few
argon2 checks run at once, the rest waiting in the event loop rather than in threads, where
they would hold the workers every other request needs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

from fastapi.concurrency import run_in_threadpool

from vault import accounts, sign_in_throttle
from vault.context import VaultContext
from vault.errors import TooManyRequests, Unauthenticated

log = logging.getLogger("callreel.vault")

LOWEST_PRIORITY = 19
WAITING_PER_CHECK = 16
REFUSAL_PAUSE_S = 1.0
"""Sign-ins allowed to queue per concurrent check; beyond that the vault answers 429 at once."""


def _yield_the_processor() -> None:
    """Hashing threads run at the lowest priority (Linux sets it per thread), so a flood of
    sign-ins takes only the processor time that requests already signed in leave over."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), LOWEST_PRIORITY)


class PasswordChecks:
    def __init__(self, at_once: int) -> None:
        self._slots = asyncio.Semaphore(at_once)
        self._most_waiting = at_once * WAITING_PER_CHECK
        self._waiting = 0
        self._hashers = ThreadPoolExecutor(
            max_workers=at_once, thread_name_prefix="password-check",
            initializer=_yield_the_processor,
        )  # fmt: skip

    async def matches(self, stored_hash: str, password: str) -> bool:
        """The hash check itself, on a low-priority thread; call within `turn()`."""
        return await asyncio.get_running_loop().run_in_executor(
            self._hashers, accounts.password_matches, stored_hash, password
        )

    def close(self) -> None:
        self._hashers.shutdown(wait=False, cancel_futures=True)

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
    """A console token for a correct password; Unauthenticated or TooManyRequests otherwise.
    A refusal for throttling is answered after a pause: a flood then waits on its own
    connections instead of starting new ones (each a TLS handshake) as fast as it can."""
    try:
        return await _sign_in(ctx, checks, username, password, source=source)
    except TooManyRequests as refused:
        await asyncio.sleep(min(float(refused.retry_after_s or 1), REFUSAL_PAUSE_S))
        raise


async def _sign_in(
    ctx: VaultContext, checks: PasswordChecks, username: str, password: str, *, source: str
) -> str:
    keys = sign_in_throttle.keys_for(username, source)

    def unless_throttled() -> tuple[str, bool]:
        with ctx.engine.connect() as connection:
            sign_in_throttle.refuse_if_blocked(connection, keys, now=ctx.clock())
            return accounts.password_hash_for(connection, username)

    await run_in_threadpool(unless_throttled)  # refused at once, before queueing
    async with checks.turn():
        # Again: failures counted while this one waited may have blocked it meanwhile.
        stored_hash, may_sign_in = await run_in_threadpool(unless_throttled)
        matches = await checks.matches(stored_hash, password)
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
