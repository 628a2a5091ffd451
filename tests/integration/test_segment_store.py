"""The segment store's contract, run against both real backends: a directory and Ceph RGW S3.

The S3 cases run against a real RADOS Gateway with Object Lock (tests/services.py), so the
retention and legal-hold refusals come from the server, not only from our code.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from testbed.ceph import S3Endpoint
from vault.storage.base import (
    SegmentLocked,
    SegmentNotFound,
    SegmentStore,
    SegmentStoreError,
    validate_key,
)
from vault.storage.factory import open_segment_store

DATA = b"\x00encrypted segment bytes\xff" * 100


@dataclass
class Backend:
    kind: str
    store: SegmentStore
    url: str
    now: Callable[[], datetime]
    """"now" as the backend's retention checks see it."""
    advance_past: Callable[[datetime], None]
    """Let time pass until `now()` is after the given moment."""


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2030, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _sleep_past(moment: datetime) -> None:
    # The gateway compares with its own clock, the same host's; a little margin for rounding.
    time.sleep(max(0.0, (moment - datetime.now(UTC)).total_seconds()) + 1.2)


@pytest.fixture(params=["disk", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "disk":
        clock = FakeClock()

        def advance(moment: datetime) -> None:
            clock.now = max(clock.now, moment + timedelta(seconds=1))

        url = (tmp_path / "segments").as_uri()
        (tmp_path / "segments").mkdir()
        return Backend("disk", open_segment_store(url, clock=clock), url, clock, advance)
    url = request.getfixturevalue("fresh_s3_bucket")
    return Backend("s3", open_segment_store(url), url, lambda: datetime.now(UTC), _sleep_past)


def new_key(index: int = 1) -> str:
    return f"recordings/{uuid.uuid4()}/{index:010d}"


def soon(backend: Backend, seconds: float = 2) -> datetime:
    return backend.now() + timedelta(seconds=seconds)


def far(backend: Backend) -> datetime:
    return backend.now() + timedelta(days=30)


def test_describe(backend: Backend) -> None:
    if backend.kind == "disk":
        assert backend.store.describe().startswith("disk /")
    else:
        assert backend.store.describe() == (f"{backend.url} (object lock: yes, governance)")


def test_put_get_round_trip(backend: Backend) -> None:
    key, other = new_key(1), new_key(2)
    backend.store.put(key, DATA, retain_until=far(backend))
    backend.store.put(other, b"", retain_until=far(backend))
    assert backend.store.get(key) == DATA
    assert backend.store.get(other) == b""


def test_overwrite_with_identical_bytes(backend: Backend) -> None:
    key = new_key()
    backend.store.put(key, DATA, retain_until=far(backend))
    backend.store.put(key, DATA, retain_until=far(backend))
    assert backend.store.get(key) == DATA


def test_get_missing(backend: Backend) -> None:
    with pytest.raises(SegmentNotFound, match="no segment"):
        backend.store.get(new_key())


def test_delete_missing_is_a_no_op(backend: Backend) -> None:
    backend.store.delete(new_key())


def test_delete_before_retention_is_refused(backend: Backend) -> None:
    key = new_key()
    backend.store.put(key, DATA, retain_until=far(backend))
    with pytest.raises(SegmentLocked, match="retain"):
        backend.store.delete(key)
    assert backend.store.get(key) == DATA


def test_delete_after_retention(backend: Backend) -> None:
    key = new_key()
    until = soon(backend)
    backend.store.put(key, DATA, retain_until=until)
    with pytest.raises(SegmentLocked):
        backend.store.delete(key)
    backend.advance_past(until)
    backend.store.delete(key)
    with pytest.raises(SegmentNotFound):
        backend.store.get(key)


def test_legal_hold_blocks_delete_until_lifted(backend: Backend) -> None:
    key = new_key()
    until = soon(backend)
    backend.store.put(key, DATA, retain_until=until)
    backend.store.set_legal_hold(key, True)
    backend.advance_past(until)
    with pytest.raises(SegmentLocked, match="legal hold"):
        backend.store.delete(key)
    assert backend.store.get(key) == DATA
    backend.store.set_legal_hold(key, False)
    backend.store.delete(key)
    with pytest.raises(SegmentNotFound):
        backend.store.get(key)


def test_legal_hold_on_missing_key(backend: Backend) -> None:
    with pytest.raises(SegmentNotFound):
        backend.store.set_legal_hold(new_key(), True)


def test_delete_removes_every_version(backend: Backend, request: pytest.FixtureRequest) -> None:
    key = new_key()
    neighbour = key + "-other"  # has the key as a prefix, must survive
    until = soon(backend)
    backend.store.put(key, DATA, retain_until=until)
    backend.store.put(key, DATA, retain_until=until)
    backend.store.put(neighbour, DATA, retain_until=far(backend))
    backend.advance_past(until)
    backend.store.delete(key)
    with pytest.raises(SegmentNotFound):
        backend.store.get(key)
    assert backend.store.get(neighbour) == DATA
    if backend.kind == "s3":
        endpoint: S3Endpoint = request.getfixturevalue("ceph_rgw")
        bucket, prefix = backend.url.removeprefix("s3://").split("/", 1)
        listing = endpoint.client().list_object_versions(Bucket=bucket, Prefix=f"{prefix}/{key}")
        keys = [v["Key"] for v in listing.get("Versions", [])]
        assert keys == [f"{prefix}/{neighbour}"]
        assert listing.get("DeleteMarkers", []) == []
    else:
        path = Path(backend.url.removeprefix("file://")) / key
        assert not path.exists()
        assert not path.with_name(path.name + ".lock.json").exists()


@pytest.mark.parametrize(
    "key",
    ["", "/recordings/a/1", "recordings/../etc/passwd", "recordings/a b/1", "recordings//1",
     "recordings/a/1/", "recordings/.hidden", "recordings/a/1.lock.json", "récordings/1"],
)  # fmt: skip
def test_invalid_keys_are_refused(backend: Backend, key: str) -> None:
    for operation in (
        lambda: backend.store.put(key, DATA, retain_until=far(backend)),
        lambda: backend.store.get(key),
        lambda: backend.store.delete(key),
        lambda: backend.store.set_legal_hold(key, True),
    ):
        with pytest.raises(ValueError, match="segment key"):
            operation()


def test_valid_key() -> None:
    key = "recordings/0b5e0c8e-1a2b-4c3d-9e8f-001122334455/0000000001"
    assert validate_key(key) == key


def test_naive_retention_date_is_refused(backend: Backend) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        backend.store.put(new_key(), DATA, retain_until=datetime(2099, 1, 1))


def test_s3_missing_bucket(ceph_rgw: S3Endpoint, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ceph_rgw.env().items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SegmentStoreError, match=r"does not exist.*create it with Object Lock"):
        open_segment_store("s3://no-such-bucket-here/segments")


def test_s3_unreachable_endpoint(ceph_rgw: S3Endpoint, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ceph_rgw.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # discard: nothing listens
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with pytest.raises(SegmentStoreError, match="check AWS_ENDPOINT_URL"):
        open_segment_store("s3://any-bucket/segments")


def test_s3_url_without_credentials() -> None:
    with pytest.raises(ValueError, match="must not carry credentials"):
        open_segment_store("s3://key:secret@bucket/segments")


def test_s3_bucket_without_object_lock(
    ceph_rgw: S3Endpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in ceph_rgw.env().items():
        monkeypatch.setenv(name, value)
    bucket = f"plain-{uuid.uuid4().hex[:12]}"
    ceph_rgw.client().create_bucket(Bucket=bucket)
    store = open_segment_store(f"s3://{bucket}/segments")
    assert store.describe() == f"s3://{bucket}/segments (object lock: no)"
    key = new_key()
    store.put(key, DATA, retain_until=datetime.now(UTC) + timedelta(days=1))
    assert store.get(key) == DATA
    with pytest.raises(SegmentStoreError, match="no Object Lock"):
        store.set_legal_hold(key, True)
    store.delete(key)
    with pytest.raises(SegmentNotFound):
        store.get(key)


def test_s3_compliance_mode(fresh_s3_bucket: str, ceph_rgw: S3Endpoint) -> None:
    store = open_segment_store(fresh_s3_bucket + "?lock_mode=COMPLIANCE")
    assert store.describe().endswith("(object lock: yes, compliance)")
    key = new_key()
    store.put(key, DATA, retain_until=datetime.now(UTC) + timedelta(seconds=2))
    bucket, prefix = fresh_s3_bucket.removeprefix("s3://").split("/", 1)
    retention = ceph_rgw.client().get_object_retention(Bucket=bucket, Key=f"{prefix}/{key}")
    assert retention["Retention"]["Mode"] == "COMPLIANCE"


def test_s3_server_enforces_object_lock(fresh_s3_bucket: str, ceph_rgw: S3Endpoint) -> None:
    """Our `delete` is not the only guard: the gateway itself refuses to delete the version."""
    store = open_segment_store(fresh_s3_bucket)
    key = new_key()
    store.put(key, DATA, retain_until=datetime.now(UTC) + timedelta(days=1))
    bucket, prefix = fresh_s3_bucket.removeprefix("s3://").split("/", 1)
    client = ceph_rgw.client()
    head = client.head_object(Bucket=bucket, Key=f"{prefix}/{key}")
    assert head["ObjectLockMode"] == "GOVERNANCE"
    with pytest.raises(ClientError) as refused:
        client.delete_object(Bucket=bucket, Key=f"{prefix}/{key}", VersionId=head["VersionId"])
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert store.get(key) == DATA
