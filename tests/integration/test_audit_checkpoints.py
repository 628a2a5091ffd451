"""The access log anchored outside the database: a real `callreel-vault serve` writes signed
checkpoints (every 100 records, every minute, at shutdown) to its append-only file and to the
segment store, and a plain `callreel-vault audit verify` then finds the last record deleted,
or a record edited and every later one re-hashed, and names the record. On SQLite + disk and
on PostgreSQL + Ceph RGW (where the copies go to an Object Lock bucket)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.helpers.agent_harness import BACKENDS, VaultProcess, serving_on_backend
from vault import audit_chain, audit_log
from vault.audit_checkpoint_writer import EVERY_RECORDS, STORE_PREFIX
from vault.db.opening import open_database
from vault.db.tables import audit_log as audit_table
from vault.storage.factory import open_segment_store


@pytest.fixture(params=BACKENDS)
def vault(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VaultProcess]:
    yield from serving_on_backend(request, tmp_path)


def _db_url(vault: VaultProcess) -> str:
    return vault.db or f"sqlite:///{vault.data / 'vault.db'}"


def _records(vault: VaultProcess) -> int:
    engine = open_database(_db_url(vault))
    try:
        with engine.connect() as connection:
            return int(
                connection.execute(sa.select(sa.func.count()).select_from(audit_table)).scalar_one()
            )
    finally:
        engine.dispose()


def _checkpoint_lines(vault: VaultProcess) -> list[dict[str, Any]]:
    path = vault.data / "audit-checkpoints.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def _verify(vault: VaultProcess) -> subprocess.CompletedProcess[str]:
    location = ["--data", str(vault.data), *(["--db", vault.db] if vault.db else [])]
    return subprocess.run(
        [sys.executable, "-m", "vault.cli", "audit", "verify", *location],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def _make_records(vault: VaultProcess, sessions: int) -> None:
    vault.admin("user", "add", "tom", "--role", "trainer", "--exist-ok")
    vault.admin("user", "add", "alice", "--role", "agent", "--exist-ok")
    with vault.client(vault.admin("token", "create", "tom").strip()) as trainer:
        expires = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        for _ in range(sessions):
            started = trainer.post("/api/v1/sessions", json={
                "agent": "alice", "calls": 1, "purpose": "training",
                "notice_text": "Coaching.", "expires_at": expires,
            })  # fmt: skip
            assert started.status_code == 201, started.text


def test_a_checkpoint_every_hundred_records_and_at_shutdown_copied_to_the_store(
    vault: VaultProcess,
) -> None:
    _make_records(vault, EVERY_RECORDS)
    deadline = time.monotonic() + 30
    while not _checkpoint_lines(vault):
        assert time.monotonic() < deadline, "no checkpoint after 100 records"
        time.sleep(0.5)
    _make_records(vault, 3)
    vault.stop()
    lines = _checkpoint_lines(vault)
    total = _records(vault)
    assert lines[0]["first"] == 0
    assert sum(len(line["hashes"]) for line in lines) == total
    assert [line["first"] for line in lines[1:]] == [
        line["first"] + len(line["hashes"]) for line in lines[:-1]
    ], "each checkpoint starts where the one before ended"
    store_url = vault.store or str(vault.data / "segments")
    store = open_segment_store(store_url)
    first = lines[0]
    key = f"{STORE_PREFIX}/{0:012d}-{len(first['hashes']):012d}"
    assert json.loads(store.get(key)) == first
    verified = _verify(vault)
    assert verified.returncode == 0, verified.stderr
    assert f"matches {len(lines)} signed checkpoints" in verified.stdout


def test_deleting_the_last_record_is_found_and_named(vault: VaultProcess) -> None:
    _make_records(vault, 2)
    vault.stop()  # the shutdown checkpoint covers every record
    last = _records(vault) - 1
    engine = open_database(_db_url(vault))
    try:
        with engine.begin() as connection:
            connection.execute(audit_table.delete().where(audit_table.c.sequence == last))
        assert audit_log.verify(engine)[1] is None, "the chain alone still looks intact"
    finally:
        engine.dispose()
    verified = _verify(vault)
    assert verified.returncode == 1
    assert f"record {last} is missing from the database" in verified.stderr


def test_editing_a_record_and_rehashing_all_after_it_is_found_and_named(
    vault: VaultProcess,
) -> None:
    _make_records(vault, 4)
    vault.stop()
    edited = 2
    engine = open_database(_db_url(vault))
    try:
        with engine.begin() as connection:
            records = audit_log.read_records(connection)
            previous = records[edited - 1]
            for record in records[edited:]:
                actor = "nobody" if record.sequence == edited else record.actor
                rewritten = audit_chain.append_record(
                    previous, at=record.at, actor=actor, action=record.action,
                    subject=record.subject, details=record.details,
                )  # fmt: skip
                connection.execute(
                    audit_table.update()
                    .where(audit_table.c.sequence == record.sequence)
                    .values(actor=actor, previous_hash=rewritten.previous_hash,
                            record_hash=rewritten.record_hash)
                )  # fmt: skip
                previous = rewritten
        assert audit_log.verify(engine)[1] is None, "the chain alone still looks intact"
    finally:
        engine.dispose()
    verified = _verify(vault)
    assert verified.returncode == 1
    assert f"record {edited} differs from the one the vault signed" in verified.stderr


def test_an_altered_checkpoint_file_is_refused(vault: VaultProcess) -> None:
    _make_records(vault, 1)
    vault.stop()
    path = vault.data / "audit-checkpoints.jsonl"
    line = json.loads(path.read_bytes().splitlines()[0])
    line["hashes"] = line["hashes"][:-1]
    path.write_bytes(json.dumps(line).encode() + b"\n")
    verified = _verify(vault)
    assert verified.returncode == 1
    assert "checkpoint line 1 does not verify" in verified.stderr
