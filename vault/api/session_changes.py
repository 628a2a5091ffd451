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
CLOSE_WAIT_S = 10.0
"""Longest that closing waits for the watcher's read of the database in flight to finish."""

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
        self._stopping: asyncio.Event | None = None
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
        """Stop the watcher once its read of the database in flight, if any, has finished.

        Cancelling the watcher would not stop that read: it would go on in its worker thread
        and give its connection back after the caller may have disposed of the engine, into a
        pool that nobody closes any more, leaving a PostgreSQL connection open until the
        garbage collector finds it."""
        watcher, stopping = self._watcher, self._stopping
        self._watcher = self._stopping = None
        if watcher is None or stopping is None or watcher.done():
            return
        stopping.set()
        try:
            await asyncio.wait_for(watcher, CLOSE_WAIT_S)
        except TimeoutError:
            log.warning(
                "stopped watching training sessions while a read of them was still running"
                " after %.0f s",
                CLOSE_WAIT_S,
            )

    def start(self) -> asyncio.Condition:
        """The condition, with the watcher running on the server's event loop (from the
        app's startup, or else by the first waiter)."""
        if self._condition is None:
            self._condition = asyncio.Condition()
        if self._watcher is None or self._watcher.done():
            self._stopping = asyncio.Event()
            self._watcher = asyncio.get_running_loop().create_task(
                self._watch(self._condition, self._stopping), name="callreel-session-changes"
            )
        return self._condition

    async def _watch(self, condition: asyncio.Condition, stopping: asyncio.Event) -> None:
        last: Fingerprint | None = None
        warned = False
        while not stopping.is_set():
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
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), self._poll_s)
