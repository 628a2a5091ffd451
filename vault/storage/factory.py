"""`open_segment_store(url)`: the backend for a storage URL.

- `file:///abs/dir` or a plain path: `vault.storage.disk.DiskStore`, one file per key.
- `s3://bucket/prefix[?lock_mode=COMPLIANCE]`: `vault.storage.s3.S3Store`. Credentials,
  endpoint and region come from boto3's standard chain (`AWS_ACCESS_KEY_ID`,
  `AWS_SECRET_ACCESS_KEY`, `AWS_ENDPOINT_URL`, `AWS_DEFAULT_REGION`), never from the URL.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

from vault.storage.base import SegmentStore, utc_now
from vault.storage.disk import DiskStore


def open_segment_store(url: str, *, clock: Callable[[], datetime] = utc_now) -> SegmentStore:
    """The store for `url`: `file:///abs/dir`, a plain path, or `s3://bucket/prefix`.

    `clock` is "now" for the disk store's retention checks (S3 servers use their own clock).
    """
    parts = urlsplit(url)
    if parts.scheme == "s3":
        # Here, not at the top: boto3 loads only for S3.
        from vault.storage.s3 import S3Store  # noqa: PLC0415

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
