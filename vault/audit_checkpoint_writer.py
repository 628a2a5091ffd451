"""Writes the access log's signed checkpoints (vault/audit_checkpoints.py) while the vault
serves: every minute and every 100 records, when there is something new, and at shutdown.

Several vault processes may share a data directory and a database: a file lock makes one write
at a time, and each starts from the end of what the file already holds, so the checkpoints
follow one another without gaps or overlaps.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from filelock import FileLock
from sqlalchemy.engine import Engine

from protocol.keys import VaultIdentity
from vault import audit_checkpoints
from vault.db.tables import audit_log
from vault.storage.base import SegmentStore, SegmentStoreError

log = logging.getLogger("callreel.vault")

EVERY = timedelta(minutes=1)
EVERY_RECORDS = 100
STORE_PREFIX = "audit-checkpoints"
KEEP_COPIES = timedelta(days=3653)
"""How long the store keeps each copy locked (S3 Object Lock): longer than any recording."""


class CheckpointWriter:
    def __init__(
        self,
        engine: Engine,
        identity: VaultIdentity,
        retired: Iterable[VaultIdentity],
        path: Path,
        *,
        store: SegmentStore | None,
        clock: Callable[[], datetime],
    ) -> None:
        self._engine = engine
        self._identity = identity
        self._identities = [identity, *retired]
        self._path = path
        self._store = store
        self._clock = clock
        self._lock = FileLock(f"{path}.lock")
        self._last_written = float("-inf")  # due at once: records may have come while down
        self._known: tuple[int, int] = (-1, 0)
        """(file size, records covered): the file is read again only when it grew."""

    def write_if_due(self, *, force: bool = False) -> audit_checkpoints.Checkpoint | None:
        """A new checkpoint if records arrived and one is due (or `force`); None otherwise."""
        with self._lock:
            end = self._checkpointed_end()
            with self._engine.connect() as connection:
                count = connection.execute(sa.select(sa.func.count()).select_from(audit_log))
                pending = int(count.scalar_one()) - end
                due = (
                    force
                    or pending >= EVERY_RECORDS
                    or time.monotonic() - self._last_written >= EVERY.total_seconds()
                )
                if pending <= 0 or not due:
                    return None
                hashes = list(
                    connection.execute(
                        sa.select(audit_log.c.record_hash)
                        .where(audit_log.c.sequence >= end)
                        .order_by(audit_log.c.sequence)
                    ).scalars()
                )
            at = self._clock()
            checkpoint = audit_checkpoints.sign(self._identity, end, hashes, at.isoformat())
            audit_checkpoints.append_line(self._path, checkpoint)
            self._last_written = time.monotonic()
        self._copy_to_store(checkpoint, at)
        return checkpoint

    def _checkpointed_end(self) -> int:
        size = self._path.stat().st_size if self._path.exists() else 0
        if size != self._known[0]:
            checkpoints = audit_checkpoints.read_file(self._path, self._identities)
            self._known = (size, checkpoints[-1].end if checkpoints else 0)
        return self._known[1]

    def _copy_to_store(self, checkpoint: audit_checkpoints.Checkpoint, at: datetime) -> None:
        if self._store is None:
            return
        key = f"{STORE_PREFIX}/{checkpoint.first:012d}-{checkpoint.end:012d}"
        try:
            self._store.put(key, checkpoint.to_line(), retain_until=at + KEEP_COPIES)
        except SegmentStoreError as exc:
            # The file holds it; the copy is a second witness, retried with the next one.
            log.warning("could not copy the access log checkpoint to %s: %s", key, exc)
