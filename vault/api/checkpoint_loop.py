"""The access log's checkpoints written while the vault serves, and a last one as it stops
(vault/audit_checkpoint_writer.py does the writing)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging

from fastapi.concurrency import run_in_threadpool

from vault.audit_checkpoint_writer import CheckpointWriter

log = logging.getLogger("callreel.vault")

TICK_S = 5.0
"""How often the access log is looked at for a due checkpoint."""


class CheckpointLoop:
    def __init__(self, checkpoints: CheckpointWriter | None) -> None:
        self._checkpoints = checkpoints
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._checkpoints is not None:
            self._task = asyncio.create_task(self._keep_writing(self._checkpoints))

    async def close(self) -> None:
        """Stop, after a write in progress ends (never cancelled: a cancelled wait would leave
        its write running in a worker thread, using the database after the vault closed it),
        then write what came since."""
        if self._task is None or self._checkpoints is None:
            return
        self._stopping.set()
        await self._task
        await run_in_threadpool(functools.partial(self._checkpoints.write_if_due, force=True))

    async def _keep_writing(self, checkpoints: CheckpointWriter) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), TICK_S)
                return
            try:
                await run_in_threadpool(checkpoints.write_if_due)
            except Exception:  # the next tick tries again; the log says why meanwhile
                log.exception("could not write an access log checkpoint")
