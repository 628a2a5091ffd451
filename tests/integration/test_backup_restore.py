"""A full backup of a serving vault, a wipe, and a restore that plays the recording again and
verifies the access log: `callreel-vault backup` / `restore` on SQLite + disk and on
PostgreSQL + Ceph RGW (whose bucket keeps the segments under Object Lock)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from protocol.keys import VaultRecipient
from tests.helpers.agent_harness import (
    BACKENDS,
    VaultProcess,
    add_people,
    enrolled_device,
    serving_on_backend,
    start_session,
)
from tests.helpers.vault_harness import sealed_recording
from vault.db.engine import connect

PASSPHRASE = "a long backup passphrase"  # noqa: S105  (a throwaway vault's backup)


@pytest.fixture(params=BACKENDS)
def vault(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VaultProcess]:
    yield from serving_on_backend(request, tmp_path)


def _cli(
    vault: VaultProcess, *args: str, stdin: str = "", store: bool = True
) -> subprocess.CompletedProcess[str]:
    location = ["--data", str(vault.data), *(["--db", vault.db] if vault.db else []),
                *(["--store", vault.store] if vault.store and store else [])]  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "vault.cli", *args, *location],
        input=stdin, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def _play(vault: VaultProcess, token: str, recording_id: str) -> bytes:
    with vault.client(token) as client:
        ticket = client.post(
            f"/api/v1/recordings/{recording_id}/playback", json={"purpose": "training"}
        )
        assert ticket.status_code == 201, ticket.text
        media = client.get(ticket.json()["url"])
        assert media.status_code == 200
        return media.content


def _wipe(vault: VaultProcess) -> None:
    """The machine is lost: its data directory and its database's tables."""
    shutil.rmtree(vault.data)
    if vault.db:
        engine = connect(vault.db)
        try:
            reflected = sa.MetaData()
            reflected.reflect(engine)
            reflected.drop_all(engine)
        finally:
            engine.dispose()


def test_a_backup_taken_while_serving_restores_a_vault_that_plays_and_verifies(
    vault: VaultProcess, tmp_path: Path
) -> None:
    people = add_people(vault)
    recipient = VaultRecipient.load(vault.data / "vault-recipient.pub")
    with enrolled_device(vault, people.agent) as device:
        start_session(vault, people)
        recording = sealed_recording(recipient)
        device.register_recording(recording.recording_id, device.sessions()[0].id,
                                  datetime.now(UTC))  # fmt: skip
        for sha, data in recording.segments:
            assert device.upload_segment(sha, data)
    recording_id = str(recording.recording_id)
    played = _play(vault, people.reviewer_token, recording_id)
    with vault.client(people.reviewer_token) as client:
        noted = client.post(f"/api/v1/recordings/{recording_id}/notes",
                            json={"at_s": 1.5, "text": "Good greeting"})  # fmt: skip
        assert noted.status_code == 201, noted.text

    archive = tmp_path / "vault-backup.tar"
    made = _cli(vault, "backup", "--out", str(archive), "--passphrase-stdin", stdin=PASSPHRASE)
    assert made.returncode == 0, made.stderr
    identity = (vault.data / "vault-identity.key").read_text().splitlines()[-1]
    assert identity.encode() not in archive.read_bytes(), "the key leaves only sealed"

    vault.stop()
    _wipe(vault)

    wrong = _cli(vault, "restore", "--from", str(archive), "--passphrase-stdin",
                 stdin="not the passphrase at all")  # fmt: skip
    assert wrong.returncode == 1
    assert "passphrase does not open this backup" in wrong.stderr
    restored = _cli(vault, "restore", "--from", str(archive), "--passphrase-stdin",
                    stdin=PASSPHRASE)  # fmt: skip
    assert restored.returncode == 0, restored.stderr
    again = _cli(vault, "restore", "--from", str(archive), "--passphrase-stdin", stdin=PASSPHRASE)
    assert again.returncode == 1, "a restore never overwrites a vault"

    vault.start()
    assert _play(vault, people.reviewer_token, recording_id) == played
    with vault.client(people.reviewer_token) as client:
        notes = client.get(f"/api/v1/recordings/{recording_id}/notes").json()
    assert [n["text"] for n in notes] == ["Good greeting"], "coaching notes come back too"
    vault.stop()
    verified = _cli(vault, "audit", "verify", store=False)
    assert verified.returncode == 0, verified.stderr
    assert "matches" in verified.stdout, verified.stdout
