"""What every segment store is: the interface, its errors and its key rules.

Backends: `vault.storage.disk.DiskStore` (a directory) and `vault.storage.s3.S3Store` (an S3
bucket with Object Lock); `vault.storage.factory.open_segment_store(url)` picks one.

Every stored segment carries a retention date and a legal-hold flag; `delete` refuses
(`SegmentLocked`) before the date or while the hold is on, and removes every stored version
otherwise.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Protocol


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
LOCK_SUFFIX = ".lock.json"


def validate_key(key: str) -> str:
    """Return `key` if it is a safe segment key (e.g. `recordings/<uuid>/0000000001`).

    Only `[A-Za-z0-9/_.-]`, no `..`, no leading `/`, no empty path components, no component
    starting with `.` (the disk store's temporary files) and no `.lock.json` ending (its lock
    records). Raises `ValueError` otherwise.
    """
    if not _KEY_PATTERN.fullmatch(key):
        raise ValueError(f"segment key {key!r} may only contain letters, digits and / _ . -")
    if ".." in key or key.startswith("/") or key.endswith(LOCK_SUFFIX):
        raise ValueError(
            f"segment key {key!r} must be relative (no leading /), contain no '..' and not "
            f"end in {LOCK_SUFFIX!r}"
        )
    if any(not part or part.startswith(".") for part in key.split("/")):
        raise ValueError(f"segment key {key!r} has an empty or dot-prefixed path component")
    return key


def require_utc(retain_until: datetime) -> datetime:
    if retain_until.tzinfo is None or retain_until.utcoffset() is None:
        raise ValueError(f"retain_until must be timezone-aware (UTC), got {retain_until!r}")
    return retain_until.astimezone(UTC)
