"""Where the vault keeps encrypted segment bytes: a local directory or an S3 bucket.

`open_segment_store(url)` picks the backend from the URL:

- `file:///abs/dir` or a plain path: `DiskStore`, one file per key.
- `s3://bucket/prefix[?lock_mode=COMPLIANCE]`: `vault.s3_segment_store.S3Store`. Credentials,
  endpoint and region come from boto3's standard chain (`AWS_ACCESS_KEY_ID`,
  `AWS_SECRET_ACCESS_KEY`, `AWS_ENDPOINT_URL`, `AWS_DEFAULT_REGION`), never from the URL.

Every stored segment carries a retention date and a legal-hold flag; `delete` refuses
(`SegmentLocked`) before the date or while the hold is on, and removes every stored version
otherwise.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit


class SegmentStoreError(Exception):
    """The store could not do what was asked; the message says what was wrong and what to do."""


class SegmentNotFound(SegmentStoreError):  # noqa: N818 - reads better at the call sites
    """No segment is stored under the key."""


class SegmentLocked(SegmentStoreError):  # noqa: N818
    """Deletion refused: the retention date is not reached or a legal hold is on."""


class SegmentStore(Protocol):
    def put(self, key: str, data: bytes, *, retain_until: datetime) -> None:
        """Store `data` under `key`, not deletable before `retain_until` (tz-aware UTC).

        Storing identical bytes under an existing key again is fine.
        """

    def get(self, key: str) -> bytes:
        """The bytes stored under `key`; `SegmentNotFound` if there are none."""

    def delete(self, key: str) -> None:
        """Remove every stored version of `key`; a missing key is a no-op.

        `SegmentLocked` if the retention date is not reached or a legal hold is on.
        """

    def set_legal_hold(self, key: str, on: bool) -> None:
        """Put a legal hold on `key` (blocks `delete` whatever the date) or lift it."""

    def describe(self) -> str:
        """Where the bytes go, for logs and `callreel-vault` status output."""


def utc_now() -> datetime:
    return datetime.now(UTC)


_KEY_PATTERN = re.compile(r"[A-Za-z0-9/_.-]+")
_LOCK_SUFFIX = ".lock.json"


def validate_key(key: str) -> str:
    """Return `key` if it is a safe segment key (e.g. `recordings/<uuid>/0000000001`).

    Only `[A-Za-z0-9/_.-]`, no `..`, no leading `/`, no empty path components, no component
    starting with `.` (the disk store's temporary files) and no `.lock.json` ending (its lock
    records). Raises `ValueError` otherwise.
    """
    if not _KEY_PATTERN.fullmatch(key):
        raise ValueError(f"segment key {key!r} may only contain letters, digits and / _ . -")
    if ".." in key or key.startswith("/") or key.endswith(_LOCK_SUFFIX):
        raise ValueError(
            f"segment key {key!r} must be relative (no leading /), contain no '..' and not "
            f"end in {_LOCK_SUFFIX!r}"
        )
    if any(not part or part.startswith(".") for part in key.split("/")):
        raise ValueError(f"segment key {key!r} has an empty or dot-prefixed path component")
    return key


def require_utc(retain_until: datetime) -> datetime:
    if retain_until.tzinfo is None or retain_until.utcoffset() is None:
        raise ValueError(f"retain_until must be timezone-aware (UTC), got {retain_until!r}")
    return retain_until.astimezone(UTC)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomically(path: Path, data: bytes) -> None:
    """Temp file in the same directory, fsync, rename over `path`, fsync the directory."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    try:
        with temporary.open("xb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


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
        self._clock = clock

    def _paths(self, key: str) -> tuple[Path, Path]:
        path = self.root / validate_key(key)
        return path, path.with_name(path.name + _LOCK_SUFFIX)

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

    @staticmethod
    def _write_lock(lock_path: Path, retain_until: datetime, legal_hold: bool) -> None:
        record = {"retain_until": retain_until.isoformat(), "legal_hold": legal_hold}
        _write_atomically(lock_path, json.dumps(record, sort_keys=True).encode())

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
        path.parent.mkdir(parents=True, exist_ok=True)
        # The lock record goes first, so the segment is never visible without one.
        self._write_lock(lock_path, retain_until, legal_hold)
        _write_atomically(path, data)

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
        _fsync_directory(path.parent)

    def set_legal_hold(self, key: str, on: bool) -> None:
        path, lock_path = self._paths(key)
        if not path.is_file():
            raise SegmentNotFound(f"no segment {key!r} in {self.root} to put a legal hold on")
        retain_until, _ = self._read_lock(key, lock_path)
        self._write_lock(lock_path, retain_until, on)

    def describe(self) -> str:
        return f"disk {self.root}"


def open_segment_store(url: str, *, clock: Callable[[], datetime] = utc_now) -> SegmentStore:
    """The store for `url`: `file:///abs/dir`, a plain path, or `s3://bucket/prefix`.

    `clock` is "now" for the disk store's retention checks (S3 servers use their own clock).
    """
    parts = urlsplit(url)
    if parts.scheme == "s3":
        # Here, not at the top: that module imports this one, and boto3 loads only for S3.
        from vault.s3_segment_store import S3Store  # noqa: PLC0415

        return S3Store.from_url(url)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost") or parts.query or parts.fragment:
            raise ValueError(f"segment store URL {url!r}: use file:///absolute/directory")
        return DiskStore(Path(unquote(parts.path)), clock=clock)
    if parts.scheme and len(parts.scheme) > 1:  # one letter: a Windows drive, not a scheme
        raise ValueError(
            f"segment store URL {url!r}: unknown scheme {parts.scheme!r}; use file:///dir, a "
            "plain path, or s3://bucket/prefix"
        )
    return DiskStore(Path(url).absolute(), clock=clock)
