"""The disk segment store: one file per key under a directory, with a lock record beside it
holding its retention date and legal hold (the embedded default)."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from protocol.atomic_files import fsync_directory
from vault.storage.base import (
    LOCK_SUFFIX,
    SegmentLocked,
    SegmentNotFound,
    SegmentStoreError,
    require_utc,
    utc_now,
    validate_key,
)

INCOMING = ".incoming"
"""Where writes in progress live (on the store's own file system, so the rename is atomic);
what a crash leaves there is removed at start (vault/disk_space.py)."""


def _write_atomically(path: Path, data: bytes, incoming: Path) -> None:
    """Temp file in `incoming`, fsync, rename over `path`, fsync the directory."""
    temporary = incoming / f"{secrets.token_hex(8)}.tmp"
    try:
        with temporary.open("xb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)


class DiskStore:
    """Segments as files under one directory, each with a `<file>.lock.json` lock record.

    The lock record holds the retention date and the legal hold, and only this class's
    `delete` honours them: the disk cannot make files immutable, so root (or anyone with
    write access to the directory) can still remove or change them. Use S3 Object Lock where
    that matters. Writes are atomic and durable (temp file, fsync, rename, fsync directory).
    """

    def __init__(self, root: Path, *, clock: Callable[[], datetime] = utc_now) -> None:
        if not root.is_dir():
            raise SegmentStoreError(
                f"segment directory {root} does not exist or is not a directory: create it "
                "(and mount its volume) before starting the vault"
            )
        self.root = root
        self.incoming = root / INCOMING
        self.incoming.mkdir(mode=0o700, exist_ok=True)
        self._clock = clock

    def _paths(self, key: str) -> tuple[Path, Path]:
        path = self.root / validate_key(key)
        return path, path.with_name(path.name + LOCK_SUFFIX)

    def _read_lock(self, key: str, lock_path: Path) -> tuple[datetime, bool]:
        try:
            record = json.loads(lock_path.read_text())
            return datetime.fromisoformat(record["retain_until"]), bool(record["legal_hold"])
        except FileNotFoundError:
            raise SegmentStoreError(
                f"segment {key!r} in {self.root} has no lock record {lock_path.name}: restore it "
                "from backup before deleting the segment"
            ) from None
        except (ValueError, KeyError, TypeError) as error:
            raise SegmentStoreError(
                f"lock record {lock_path} is unreadable ({error}): restore it from backup"
            ) from error

    def _write_lock(self, lock_path: Path, retain_until: datetime, legal_hold: bool) -> None:
        record = {"retain_until": retain_until.isoformat(), "legal_hold": legal_hold}
        _write_atomically(lock_path, json.dumps(record, sort_keys=True).encode(), self.incoming)

    def _refuse_if_locked(self, key: str, lock_path: Path, action: str) -> None:
        retain_until, legal_hold = self._read_lock(key, lock_path)
        if legal_hold:
            raise SegmentLocked(
                f"cannot {action} segment {key!r}: a legal hold is on; lift it first"
            )
        now = self._clock()
        if now < retain_until:
            raise SegmentLocked(
                f"cannot {action} segment {key!r}: retained until {retain_until.isoformat()} "
                f"(now {now.isoformat()}); try again after that date"
            )

    def put(self, key: str, data: bytes, *, retain_until: datetime) -> None:
        retain_until = require_utc(retain_until)
        path, lock_path = self._paths(key)
        legal_hold = False
        with contextlib.suppress(FileNotFoundError):
            if path.read_bytes() != data:
                self._refuse_if_locked(key, lock_path, "overwrite")
            if lock_path.exists():
                # Never shorten a retention period or drop a hold by writing again.
                old_until, legal_hold = self._read_lock(key, lock_path)
                retain_until = max(retain_until, old_until)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # The lock record goes first, so the segment is never visible without one.
            self._write_lock(lock_path, retain_until, legal_hold)
            _write_atomically(path, data, self.incoming)
        except OSError as exc:
            raise SegmentStoreError(
                f"cannot write segment {key!r} under {self.root}: {exc.strerror or exc}"
            ) from exc

    def get(self, key: str) -> bytes:
        path, _ = self._paths(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise SegmentNotFound(f"no segment {key!r} in {self.root}") from None

    def delete(self, key: str) -> None:
        path, lock_path = self._paths(key)
        if not path.is_file():
            lock_path.unlink(missing_ok=True)  # left by a put that crashed before its data
            return
        self._refuse_if_locked(key, lock_path, "delete")
        path.unlink()
        lock_path.unlink(missing_ok=True)
        fsync_directory(path.parent)

    def set_legal_hold(self, key: str, on: bool) -> None:
        path, lock_path = self._paths(key)
        if not path.is_file():
            raise SegmentNotFound(f"no segment {key!r} in {self.root} to put a legal hold on")
        retain_until, _ = self._read_lock(key, lock_path)
        self._write_lock(lock_path, retain_until, on)

    def describe(self) -> str:
        return f"disk {self.root}"
