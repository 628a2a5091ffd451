"""`S3Store`: segments as objects in an S3 bucket, protected by S3 Object Lock when enabled.

Opened through `vault.storage.base.open_segment_store("s3://bucket/prefix")`. boto3's standard
chain supplies credentials, endpoint and region (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
`AWS_ENDPOINT_URL`, `AWS_DEFAULT_REGION`, or the AWS config files). The store never creates
buckets: make one with Object Lock enabled (`ObjectLockEnabledForBucket=True`; it cannot be
switched on later). With Object Lock, the server itself refuses to delete a version before
its retain-until date or while a legal hold is on; we never bypass governance mode.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Literal
from urllib.parse import parse_qs, urlsplit

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from vault.storage.base import (
    SegmentLocked,
    SegmentNotFound,
    SegmentStoreError,
    require_utc,
    validate_key,
)

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

LockMode = Literal["GOVERNANCE", "COMPLIANCE"]
_NOT_FOUND = {"NoSuchKey", "404", "NotFound", "NoSuchVersion"}
_LOCKED = {"AccessDenied", "InvalidRequest"}
_NO_LOCK_CONFIG = {"ObjectLockConfigurationNotFoundError", "ObjectLockConfigurationNotFound"}


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class S3Store:
    def __init__(
        self, client: S3Client, bucket: str, prefix: str, lock_mode: LockMode = "GOVERNANCE"
    ) -> None:
        self._client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.lock_mode: LockMode = lock_mode
        self.endpoint = client.meta.endpoint_url
        self.object_lock = self._check_bucket()

    @classmethod
    def from_url(cls, url: str) -> S3Store:
        parts = urlsplit(url)
        if "@" in parts.netloc or parts.password or parts.username:
            raise ValueError(
                "segment store URL must not carry credentials: set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY (or an AWS profile) instead"
            )
        if not parts.hostname:
            raise ValueError(f"segment store URL {url!r}: use s3://bucket/prefix")
        query = parse_qs(parts.query, keep_blank_values=True)
        unknown = set(query) - {"lock_mode"}
        if unknown or parts.fragment:
            raise ValueError(f"segment store URL {url!r}: only ?lock_mode=... is understood")
        mode = query.get("lock_mode", ["GOVERNANCE"])[-1].upper()
        if mode not in ("GOVERNANCE", "COMPLIANCE"):
            raise ValueError(f"lock_mode must be GOVERNANCE or COMPLIANCE, not {mode!r}")
        lock_mode: LockMode = "COMPLIANCE" if mode == "COMPLIANCE" else "GOVERNANCE"
        try:
            client = boto3.client("s3")
        except BotoCoreError as error:
            raise SegmentStoreError(
                f"cannot set up the S3 client ({error}): check AWS_DEFAULT_REGION and "
                "AWS_ENDPOINT_URL"
            ) from error
        return cls(client, parts.netloc, parts.path, lock_mode)

    def _where(self) -> str:
        return f"s3://{self.bucket}/{self.prefix} at {self.endpoint}"

    def _fail(self, action: str, error: Exception) -> SegmentStoreError:
        """The `SegmentStoreError` for an unexpected failure of `action`."""
        if isinstance(error, NoCredentialsError):
            hint = "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or an AWS profile)"
        elif isinstance(error, BotoCoreError):
            hint = "check AWS_ENDPOINT_URL, the network and that the S3 service is up"
        elif isinstance(error, ClientError) and _code(error) in ("AccessDenied", "403"):
            hint = "check the credentials and that they may use this bucket"
        else:
            hint = "see the S3 service's logs"
        return SegmentStoreError(f"{action} failed on {self._where()}: {error}; {hint}")

    def _check_bucket(self) -> bool:
        """Whether the bucket has Object Lock; `SegmentStoreError` if it is unusable."""
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except ClientError as error:
            if _code(error) in ("404", "NoSuchBucket", "NotFound"):
                raise SegmentStoreError(
                    f"bucket {self.bucket!r} does not exist at {self.endpoint}: create it with "
                    "Object Lock enabled (ObjectLockEnabledForBucket=True); the vault does not "
                    "create buckets"
                ) from error
            raise self._fail("checking the bucket", error) from error
        except BotoCoreError as error:
            raise self._fail("checking the bucket", error) from error
        try:
            config = self._client.get_object_lock_configuration(Bucket=self.bucket)
        except ClientError as error:
            if _code(error) in _NO_LOCK_CONFIG:
                return False
            raise self._fail("reading the Object Lock configuration", error) from error
        except BotoCoreError as error:
            raise self._fail("reading the Object Lock configuration", error) from error
        lock = config.get("ObjectLockConfiguration", {})
        return lock.get("ObjectLockEnabled") == "Enabled"

    def _object_key(self, key: str) -> str:
        validate_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, data: bytes, *, retain_until: datetime) -> None:
        object_key = self._object_key(key)
        retain_until = require_utc(retain_until)
        try:
            if self.object_lock:
                self._client.put_object(
                    Bucket=self.bucket,
                    Key=object_key,
                    Body=data,
                    ObjectLockMode=self.lock_mode,
                    ObjectLockRetainUntilDate=retain_until,
                )
            else:
                self._client.put_object(Bucket=self.bucket, Key=object_key, Body=data)
        except (ClientError, BotoCoreError) as error:
            raise self._fail(f"storing segment {key!r}", error) from error

    def get(self, key: str) -> bytes:
        object_key = self._object_key(key)
        try:
            return self._client.get_object(Bucket=self.bucket, Key=object_key)["Body"].read()
        except ClientError as error:
            if _code(error) in _NOT_FOUND:
                raise SegmentNotFound(f"no segment {key!r} in {self._where()}") from error
            raise self._fail(f"reading segment {key!r}", error) from error
        except BotoCoreError as error:
            raise self._fail(f"reading segment {key!r}", error) from error

    def _versions(self, object_key: str) -> tuple[list[str], list[str]]:
        """(version ids oldest first, delete-marker ids) of exactly `object_key`."""
        versions: list[str] = []
        markers: list[str] = []
        paginator = self._client.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=object_key):
            versions += [
                v["VersionId"] for v in page.get("Versions", []) if v.get("Key") == object_key
            ]
            markers += [
                m["VersionId"] for m in page.get("DeleteMarkers", []) if m.get("Key") == object_key
            ]
        versions.reverse()  # S3 lists the newest first
        return versions, markers

    def delete(self, key: str) -> None:
        object_key = self._object_key(key)
        try:
            versions, markers = self._versions(object_key)
        except (ClientError, BotoCoreError) as error:
            raise self._fail(f"listing the versions of segment {key!r}", error) from error
        # Oldest first: if a later version is locked, the segment stays readable as it was.
        for version_id in versions + markers:
            try:
                self._client.delete_object(Bucket=self.bucket, Key=object_key, VersionId=version_id)
            except ClientError as error:
                if _code(error) in _LOCKED and self.object_lock:
                    raise SegmentLocked(
                        f"cannot delete segment {key!r} (version {version_id}) from "
                        f"{self._where()}: Object Lock retention has not expired or a legal "
                        f"hold is on; try again after the retain-until date or lift the hold "
                        f"({_code(error)})"
                    ) from error
                raise self._fail(f"deleting segment {key!r}", error) from error
            except BotoCoreError as error:
                raise self._fail(f"deleting segment {key!r}", error) from error

    def set_legal_hold(self, key: str, on: bool) -> None:
        object_key = self._object_key(key)
        if not self.object_lock:
            raise SegmentStoreError(
                f"cannot set a legal hold on {key!r}: bucket {self.bucket!r} has no Object Lock; "
                "use a bucket created with ObjectLockEnabledForBucket=True"
            )
        try:
            version = self._client.head_object(Bucket=self.bucket, Key=object_key)["VersionId"]
            self._client.put_object_legal_hold(
                Bucket=self.bucket,
                Key=object_key,
                VersionId=version,
                LegalHold={"Status": "ON" if on else "OFF"},
            )
        except ClientError as error:
            if _code(error) in _NOT_FOUND:
                raise SegmentNotFound(f"no segment {key!r} in {self._where()}") from error
            raise self._fail(f"setting the legal hold on {key!r}", error) from error
        except BotoCoreError as error:
            raise self._fail(f"setting the legal hold on {key!r}", error) from error

    def describe(self) -> str:
        lock = f"yes, {self.lock_mode.lower()}" if self.object_lock else "no"
        return f"s3://{self.bucket}/{self.prefix} (object lock: {lock})"
