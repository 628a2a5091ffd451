"""The vault's checkpoint loop stops only after a write in progress ends (a write left running
in a worker thread would use the database after the vault closed it), then writes the last."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import cast

import pytest

from vault.api import checkpoint_loop
from vault.api.checkpoint_loop import CheckpointLoop
from vault.audit_checkpoint_writer import CheckpointWriter


class SlowWriter:
    def __init__(self) -> None:
        self.calls: list[tuple[str, float, float]] = []
        self.writing = threading.Event()

    def write_if_due(self, *, force: bool = False) -> None:
        began = time.monotonic()
        self.writing.set()
        time.sleep(0.3)
        self.calls.append(("forced" if force else "due", began, time.monotonic()))


def test_closing_waits_for_the_write_in_progress_then_writes_the_last(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(checkpoint_loop, "TICK_S", 0.01)
    writer = SlowWriter()

    async def run() -> float:
        loop = CheckpointLoop(cast(CheckpointWriter, writer))
        loop.start()
        while not writer.writing.is_set():
            await asyncio.sleep(0.005)
        await loop.close()
        return time.monotonic()

    closed = asyncio.run(run())
    kinds = [kind for kind, _, _ in writer.calls]
    assert kinds[-1] == "forced"
    assert kinds.count("forced") == 1
    for (_, _, ended), (_, began, _) in zip(writer.calls, writer.calls[1:], strict=False):
        assert began >= ended, "a write began before the one before it ended"
    assert all(ended <= closed for _, _, ended in writer.calls)
