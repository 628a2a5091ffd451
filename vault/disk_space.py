"""A full disk, wherever the vault meets it (segment store, upload scratch, SQLite, PostgreSQL),
is one answer: 503 with Retry-After and the reason, never a bare 500 or a dropped connection.
And what a crash left half-written is removed when the vault starts."""

from __future__ import annotations

import errno
import logging
import time
from pathlib import Path

import sqlalchemy as sa

log = logging.getLogger("callreel.vault")

FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
RETRY_AFTER_S = 60
STALE_AFTER_S = 600
"""A temporary file this old belongs to no write in progress (writes take seconds): another
vault process sharing the directory may be writing newer ones."""
_POSTGRES_DISK_FULL = "53100"


def is_disk_full(exc: BaseException) -> bool:
    """Whether `exc`, or what caused it, is the disk (or quota) being full."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in FULL_ERRNOS:
            return True
        if isinstance(current, sa.exc.DBAPIError):
            original = current.orig
            if getattr(original, "sqlstate", None) == _POSTGRES_DISK_FULL:
                return True
            if "database or disk is full" in str(original):  # SQLite's SQLITE_FULL
                return True
        current = current.__cause__ or current.__context__
    return False


def remove_stale_temporaries(directory: Path, *, now: float | None = None) -> int:
    """Remove files in `directory` older than STALE_AFTER_S; how many went."""
    if not directory.is_dir():
        return 0
    cutoff = (time.time() if now is None else now) - STALE_AFTER_S
    removed = 0
    for entry in directory.iterdir():
        try:
            if entry.is_file() and entry.stat().st_mtime < cutoff:
                entry.unlink()
                removed += 1
        except FileNotFoundError:
            continue  # another process cleaned it first
    if removed:
        log.info("removed %d temporary files left in %s by an earlier crash", removed, directory)
    return removed
