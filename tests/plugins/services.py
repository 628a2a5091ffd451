"""Real backing services for the vault's tests (registered by tests/conftest.py):

- `postgres_server` (session): a PostgreSQL 15 cluster on a free 127.0.0.1 port, fsync off
  (testbed/postgres.py); its SQLAlchemy URL (`postgresql+psycopg://test@127.0.0.1:PORT/postgres`).
- `fresh_postgres_url` (per test): a new, empty database on it; dropped afterwards.
- `either_database_url` (per test, twice): a new SQLite file, then a fresh PostgreSQL database,
  for tests that must hold on both of the vault's databases.
- `ceph_rgw` (session): a one-node Ceph cluster with its RADOS Gateway (testbed/ceph.py).
- `fresh_s3_bucket` (per test): a new bucket with Object Lock enabled; its
  `s3://bucket/segments` URL, with the `AWS_*` variables pointing at the gateway meanwhile.

A missing program fails the test rather than skipping it.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy

from testbed.ceph import S3Endpoint, running_ceph_rgw
from testbed.postgres import running_postgres


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_postgres(tmp_path_factory.mktemp("postgres")) as url:
        yield url


@pytest.fixture
def fresh_postgres_url(postgres_server: str) -> Iterator[str]:
    """A new, empty database (random name) on the session's server; dropped after the test."""
    name = f"test_{secrets.token_hex(6)}"
    engine = sqlalchemy.create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
        yield postgres_server.rsplit("/", 1)[0] + f"/{name}"
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def either_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'vault.db'}"
    url: str = request.getfixturevalue("fresh_postgres_url")
    return url


@pytest.fixture(scope="session")
def ceph_rgw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Endpoint]:
    with running_ceph_rgw(tmp_path_factory.mktemp("ceph")) as endpoint:
        yield endpoint


@pytest.fixture
def fresh_s3_bucket(
    ceph_rgw: S3Endpoint, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[str]:
    """A new bucket with Object Lock enabled; yields `s3://<bucket>/segments`.

    For the test, the `AWS_*` variables point boto3's standard chain at the gateway (and away
    from any AWS config or credentials files of the machine).
    """
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    for name, value in ceph_rgw.env().items():
        monkeypatch.setenv(name, value)
    bucket = f"test-{secrets.token_hex(8)}"
    client = ceph_rgw.client()
    client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    yield f"s3://{bucket}/segments"
    # Best effort: governance-locked test objects go; compliance-locked ones stay until the
    # gateway stops (it keeps everything in memory).
    with contextlib.suppress(Exception):
        listing = client.list_object_versions(Bucket=bucket)
        for entry in [*listing.get("Versions", []), *listing.get("DeleteMarkers", [])]:
            client.delete_object(Bucket=bucket, Key=entry["Key"], VersionId=entry["VersionId"],
                                 BypassGovernanceRetention=True)  # fmt: skip
        client.delete_bucket(Bucket=bucket)
