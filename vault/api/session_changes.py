"""Agents wait here for their training sessions to change (a long poll), so that a session a
trainer starts or ends reaches the agent within a second or two, without every agent asking
every second.

One watcher per vault process reads a fingerprint of the training sessions (how many there
are, the latest start and the latest end) every `POLL_S` seconds, and wakes every waiting
request when it changes; each then looks its own device's sessions up again. The fingerprint
comes from the database, so a session started through any vault process that shares it (the
PostgreSQL deployment) wakes agents waiting on all of them, and the cost is two small queries a
second per process, however many agents wait. Waiting costs a request no thread: it awaits an
asyncio condition.

Only what a trainer does is pushed: a session's calls being used up or its expiry are decided
by the agent itself, from its own count and clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from vault.db.tables import training_sessions

log = logging.getLogger(__name__)

POLL_S = 0.5
MAX_WAIT_S = 30.0
"""Longest wait a request may ask for; proxies commonly cut idle requests at 60 s."""
MAX_WAITERS = 20_000
"""Beyond this many waiting requests in one process, requests are answered at once."""

Fingerprint = tuple[object, ...]


def sessions_fingerprint(engine: Engine) -> Fingerprint:
    with engine.connect() as connection:
        row = connection.execute(
            sa.select(
                sa.func.count(),
                sa.func.max(training_sessions.c.created_at),
                sa.func.max(training_sessions.c.ended_at),
            )
        ).one()
    return tuple(row)


class SessionChanges:
    """A generation number that goes up whenever the training sessions change."""

    def __init__(self, engine: Engine, poll_s: float = POLL_S) -> None:
        self._engine = engine
        self._poll_s = poll_s
        self.generation = 0
        self._condition: asyncio.Condition | None = None
        self._watcher: asyncio.Task[None] | None = None
        self.waiting = 0

    def can_wait(self) -> bool:
        return self.waiting < MAX_WAITERS

    async def wait_after(self, generation: int, timeout: float) -> int:
        """The generation once it is past `generation`, or `generation` after `timeout`."""
        condition = self.start()
        self.waiting += 1
        try:
            async with condition:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        condition.wait_for(lambda: self.generation != generation), timeout
                    )
                return self.generation
        finally:
            self.waiting -= 1

    async def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None

    def start(self) -> asyncio.Condition:
        """The condition, with the watcher running on the server's event loop (from the
        app's startup, or else by the first waiter)."""
        if self._condition is None:
            self._condition = asyncio.Condition()
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.get_running_loop().create_task(
                self._watch(self._condition), name="callreel-session-changes"
            )
        return self._condition

    async def _watch(self, condition: asyncio.Condition) -> None:
        last: Fingerprint | None = None
        warned = False
        while True:
            current: Fingerprint | None
            try:
                current = await run_in_threadpool(sessions_fingerprint, self._engine)
                warned = False
            except Exception as exc:  # noqa: BLE001 - waiters time out and ask again
                if not warned:
                    log.warning("cannot watch training sessions for changes: %s", exc)
                    warned = True
                current = last
            if last is not None and current != last:
                async with condition:
                    self.generation += 1
                    condition.notify_all()
            last = current
            await asyncio.sleep(self._poll_s)
