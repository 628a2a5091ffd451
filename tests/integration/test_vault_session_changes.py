"""The vault's watcher of training sessions (vault/api/session_changes.py) stops cleanly, on
SQLite and on PostgreSQL: closing it waits for its read of the database in flight, so that the
engine disposed of right after has every connection back in its pool, and closes them all.

A read cut off instead goes on in its worker thread and gives its connection back to the pool
after the dispose, into a pool nobody closes any more: on PostgreSQL, an open connection that
the garbage collector finds at a random later moment (a ResourceWarning in some other test)."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from vault.api import session_changes
from vault.api.session_changes import Fingerprint, SessionChanges
from vault.db.opening import open_database
from vault.db.tables import training_sessions


def test_closing_the_watcher_waits_for_its_read_so_no_connection_outlives_the_engine(
    either_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    reading = threading.Event()

    def slow_fingerprint(engine: Engine) -> Fingerprint:
        with engine.connect() as connection:
            reading.set()
            time.sleep(0.5)  # the vault stops in the middle of this read
            return tuple(
                connection.execute(sa.select(sa.func.count()).select_from(training_sessions)).one()
            )

    monkeypatch.setattr(session_changes, "sessions_fingerprint", slow_fingerprint)
    engine = open_database(either_database_url)
    pool = engine.pool
    assert isinstance(pool, sa.pool.QueuePool)

    async def start_then_close() -> int:
        changes = SessionChanges(engine, poll_s=0.01)
        changes.start()
        while not reading.is_set():
            await asyncio.sleep(0.01)
        await changes.close()
        return pool.checkedout()

    try:
        assert asyncio.run(start_then_close()) == 0
    finally:
        engine.dispose()
