"""`callreel-vault audit verify` on a stored access log, on SQLite and on PostgreSQL: an
intact log passes, and every kind of tampering with the stored rows is found and named."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from protocol.api.staff import AuditDetails
from vault import audit_log
from vault.db.opening import open_database

RECORDS = 6


@pytest.fixture
def filled(either_database_url: str) -> Iterator[tuple[Engine, str]]:
    """The log holding RECORDS records, and its head."""
    engine = open_database(either_database_url)
    head = ""
    for n in range(RECORDS):
        head = audit_log.append(
            engine,
            at=datetime(2026, 11, 22, 9, n, tzinfo=UTC),
            actor="tina",
            action="playback",
            subject=f"recording-{n}",
            details=AuditDetails(purpose="training"),
        ).record_hash
    yield engine, head
    engine.dispose()


def _verify(either_database_url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vault.cli", "audit", "verify", "--db", either_database_url, *extra],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _sql(engine: Engine, *statements: str) -> None:
    with engine.begin() as connection:
        for statement in statements:
            connection.execute(sa.text(statement))


TAMPERING: dict[str, tuple[Callable[[Engine], None], str]] = {
    "edited details": (
        lambda e: _sql(
            e, 'UPDATE audit_log SET details = \'{"purpose": "quality"}\' WHERE sequence = 2'
        ),
        "record 2: content",
    ),
    "edited actor": (
        lambda e: _sql(e, "UPDATE audit_log SET actor = 'someone' WHERE sequence = 4"),
        "record 4: content",
    ),
    "details not even JSON": (
        lambda e: _sql(e, "UPDATE audit_log SET details = 'garbage' WHERE sequence = 1"),
        "record 1: content",
    ),
    "record removed": (
        lambda e: _sql(e, "DELETE FROM audit_log WHERE sequence = 3"),
        "record 3: sequence",
    ),
    "records reordered": (
        lambda e: _sql(
            e,
            "UPDATE audit_log SET sequence = 100 WHERE sequence = 2",
            "UPDATE audit_log SET sequence = 2 WHERE sequence = 3",
            "UPDATE audit_log SET sequence = 3 WHERE sequence = 100",
        ),
        "record 2: link",
    ),
    "record rewritten with a fresh hash": (
        lambda e: _sql(
            e, "UPDATE audit_log SET record_hash = '" + "a" * 64 + "' WHERE sequence = 2"
        ),
        "record 2: content",
    ),
}


def test_an_intact_log_verifies_and_prints_its_head(
    either_database_url: str, filled: tuple[Engine, str]
) -> None:
    _, head = filled
    result = _verify(either_database_url)
    assert result.returncode == 0, result.stderr
    assert f"intact: {RECORDS} records, head {head}" in result.stdout
    assert _verify(either_database_url, "--expect-head", head).returncode == 0


@pytest.mark.parametrize("case", list(TAMPERING))
def test_tampering_is_found_and_located(
    either_database_url: str, filled: tuple[Engine, str], case: str
) -> None:
    engine, _ = filled
    tamper, expected = TAMPERING[case]
    tamper(engine)
    result = _verify(either_database_url)
    assert result.returncode == 1
    assert f"audit chain broken at {expected}" in result.stderr


def test_records_cut_off_the_end_are_found_against_the_noted_head(
    either_database_url: str, filled: tuple[Engine, str]
) -> None:
    engine, head = filled
    with engine.begin() as connection:
        connection.execute(
            sa.text("DELETE FROM audit_log WHERE sequence = :last"), {"last": RECORDS - 1}
        )
    # The shorter chain is internally consistent; only the head noted earlier reveals it.
    assert _verify(either_database_url).returncode == 0
    result = _verify(either_database_url, "--expect-head", head)
    assert result.returncode == 1
    assert f"audit chain broken at record {RECORDS - 1}: head" in result.stderr
