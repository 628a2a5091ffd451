"""The vault's schema migrations (Alembic), on SQLite and on PostgreSQL.

A database created by release 0.1.0 (loaded from that release's own dump, with data in it) is
refused by `serve` with the command to run, upgraded by `callreel-vault migrate`, and keeps its
people, sessions, devices, recordings, keys and access log; the migrated schema and a new one
both match the models (no drift).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import make_url

from testbed.postgres import POSTGRES_BIN
from tests.helpers.data import RELEASE_0_1_0 as DATA
from vault import audit_log
from vault.db.engine import connect
from vault.db.migrate import SchemaAheadError, SchemaBehindError, head_revision
from vault.db.opening import open_database
from vault.db.tables import metadata

CLI = [sys.executable, "-m", "vault.cli"]


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'vault.db'}"
        return
    url: str = request.getfixturevalue("fresh_postgres_url")
    yield url


def load_release_0_1_0(url: str) -> None:
    """Fill the empty database at `url` from release 0.1.0's dump for its kind."""
    if url.startswith("sqlite"):
        with sqlite3.connect(make_url(url).database or "") as database:
            database.executescript((DATA / "vault-0.1.0.sqlite.sql").read_text())
        return
    parts = make_url(url)
    subprocess.run(
        [str(POSTGRES_BIN / "psql"), "-q", "-v", "ON_ERROR_STOP=1", "-h", str(parts.host),
         "-p", str(parts.port), "-U", str(parts.username), "-d", str(parts.database),
         "-f", str(DATA / "vault-0.1.0.postgresql.sql")],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip


def drift(url: str) -> list[object]:
    engine = connect(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences: list[object] = compare_metadata(context, metadata)
    finally:
        engine.dispose()
    return differences


def vault_cli(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *arguments], capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ},
    )  # fmt: skip


def test_a_new_database_is_created_at_the_latest_revision_without_drift(
    empty_database: str,
) -> None:
    engine = open_database(empty_database)
    try:
        with engine.connect() as connection:
            revision = MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
    assert revision == head_revision()
    assert drift(empty_database) == []


def test_release_0_1_0_database_is_refused_then_migrated_and_keeps_its_data(
    empty_database: str, tmp_path: Path
) -> None:
    load_release_0_1_0(empty_database)
    location = ["--data", str(tmp_path / "data"), "--db", empty_database]

    refused = vault_cli("user", "add", "newcomer", "--role", "agent", *location)
    assert refused.returncode == 1
    assert "release 0.1.0's schema" in refused.stderr
    assert f"callreel-vault migrate --data {tmp_path / 'data'} --db" in refused.stderr
    with pytest.raises(SchemaBehindError):
        open_database(empty_database)

    migrated = vault_cli("migrate", *location)
    assert migrated.returncode == 0, migrated.stderr
    assert "upgraded from release 0.1.0 to revision" in migrated.stdout
    again = vault_cli("migrate", *location)
    assert again.returncode == 0, again.stderr
    assert "already at schema revision" in again.stdout
    assert drift(empty_database) == []

    engine = open_database(empty_database)
    try:
        with engine.connect() as connection:

            def rows(query: str) -> list[tuple[object, ...]]:
                return [tuple(row) for row in connection.execute(sa.text(query))]

            assert rows("SELECT username, roles, team FROM users ORDER BY id") == [
                ("tess", "trainer", None),
                ("alice", "agent", "blue"),
                ("audrey", "auditor", None),
            ]
            assert rows("SELECT calls_allowed, calls_used, purpose FROM training_sessions") == [
                (2, 1, "training")
            ]
            assert rows("SELECT hostname, agent_version FROM devices") == [("desk-12", "0.1.0")]
            assert rows("SELECT state, purpose FROM recordings") == [("complete", "training")]
            assert rows("SELECT COUNT(*) FROM recording_keys") == [(1,)]
            assert rows("SELECT segment_index FROM segments ORDER BY segment_index") == [
                (0,),
                (2**32 - 1,),
            ]
            assert rows("SELECT COUNT(*) FROM api_tokens") == [(1,)]
            assert "schema_info" not in sa.inspect(connection).get_table_names()
        count, broken, head = audit_log.verify(engine, None)
    finally:
        engine.dispose()
    assert (count, broken) == (2, None)
    assert head is not None

    added = vault_cli("user", "add", "newcomer", "--role", "agent", *location)
    assert added.returncode == 0, added.stderr


def test_two_vaults_migrating_at_once_upgrade_the_database_once(
    fresh_postgres_url: str, tmp_path: Path
) -> None:
    load_release_0_1_0(fresh_postgres_url)
    location = ["--data", str(tmp_path / "data"), "--db", fresh_postgres_url]
    command = [*CLI, "migrate", *location]
    both = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = [process.communicate(timeout=120) for process in both]
    assert [process.returncode for process in both] == [0, 0], results
    outputs = sorted(stdout for stdout, _ in results)
    assert "already at schema revision" in outputs[0]
    assert "upgraded from release 0.1.0" in outputs[1]
    assert drift(fresh_postgres_url) == []


def test_a_database_from_a_newer_release_is_refused(empty_database: str) -> None:
    open_database(empty_database).dispose()
    engine = connect(empty_database)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    finally:
        engine.dispose()
    with pytest.raises(SchemaAheadError, match="newer Callreel vault"):
        open_database(empty_database)
