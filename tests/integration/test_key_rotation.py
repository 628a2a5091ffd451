"""Rotating the vault's key on a real `callreel-vault serve`: recordings sealed before still
play, the agent's uploader learns the new recipient from a heartbeat and keeps it in its
enrolment (no re-enrolment), new recordings sealed to it play, a spool's leftover sealed to
the old key is still accepted, and the access log still verifies across both keys."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx

from agent.spool.spool import Spool
from agent.upload.uploader import Uploader
from agent.vault_connection.client import DeviceClient, enrol
from agent.vault_connection.enrolment import Enrolment
from agent.vault_connection.kept_enrolment import KeptEnrolment
from agent.vault_connection.recipient_follower import RecipientFollower
from protocol.keys import VaultRecipient
from protocol.pinned_tls import client_ssl_context
from protocol.signing import DeviceKey
from tests.helpers.agent_harness import VaultProcess, add_people, start_session
from tests.helpers.vault_harness import SealedRecording, sealed_recording


def _client(vault: VaultProcess) -> httpx.Client:
    return httpx.Client(base_url=vault.url, verify=client_ssl_context(vault.ca), timeout=60)


def _upload(vault: VaultProcess, device: DeviceClient, recording: SealedRecording) -> str:
    people_session = device.sessions()[0].id
    device.register_recording(recording.recording_id, people_session, datetime.now(UTC))
    for sha, data in recording.segments:
        assert device.upload_segment(sha, data)
    return str(recording.recording_id)


def _restored_copy_plays(
    vault: VaultProcess, tmp_path: Path, token: str, recording_id: str
) -> bool:
    """The backup carries the retired key: a vault restored from it still plays the old
    recording."""
    archive, restored = tmp_path / "backup.tar", VaultProcess(tmp_path / "restored")
    for command in (
        ["backup", "--data", str(vault.data), "--out", str(archive)],
        ["restore", "--data", str(restored.data), "--from", str(archive)],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "vault.cli", *command, "--passphrase-stdin"],
            input="a long backup passphrase", capture_output=True, text=True, timeout=120,
            check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    restored.start()
    try:
        return _plays(restored, token, recording_id)
    finally:
        restored.stop()


def _plays(vault: VaultProcess, token: str, recording_id: str) -> bool:
    with vault.client(token) as client:
        ticket = client.post(
            f"/api/v1/recordings/{recording_id}/playback", json={"purpose": "training"}
        )
        return ticket.status_code == 201 and client.get(ticket.json()["url"]).status_code == 200


def test_rotated_key_old_recordings_play_and_the_agent_follows(tmp_path: Path) -> None:
    vault = VaultProcess(tmp_path / "vault")
    vault.start()
    try:
        people = add_people(vault)
        old = VaultRecipient.load(vault.data / "vault-recipient.pub")
        key = DeviceKey.generate()
        with _client(vault) as http:
            enrolled = enrol(http, vault.admin("enroll-token", "--agent", people.agent).strip(),
                             key, "pc-1")  # fmt: skip
        enrolment_file = tmp_path / "agent" / "enrolment.json"
        Enrolment(vault.url, vault.ca, enrolled.device_id, people.agent,
                  old.to_text()).save(enrolment_file)  # fmt: skip
        start_session(vault, people, calls=3)
        with DeviceClient(_client(vault), enrolled.device_id, key) as device:
            before = _upload(vault, device, sealed_recording(old))
        left_in_spool = sealed_recording(old)  # sealed before the rotation, sent after it

        vault.stop()
        rotated = subprocess.run(
            [sys.executable, "-m", "vault.cli", "key", "rotate", "--data", str(vault.data)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert rotated.returncode == 0, rotated.stderr
        assert old.key_id.hex() in rotated.stdout
        vault.start()
        new = VaultRecipient.load(vault.data / "vault-recipient.pub")
        assert new.key_id != old.key_id

        device = DeviceClient(_client(vault), enrolled.device_id, key)
        sealed_to: list[VaultRecipient] = []
        kept = KeptEnrolment(Enrolment.load(enrolment_file), enrolment_file)
        follower = RecipientFollower(kept, sealed_to.append)
        with Spool(tmp_path / "spool", min_free_bytes=0) as spool:
            uploader = Uploader(spool, device, agent_version="test", heartbeat_s=0.2,
                                on_vault_recipient=follower)  # fmt: skip
            uploader.start()
            try:
                deadline = time.monotonic() + 30
                while not sealed_to:
                    assert time.monotonic() < deadline, "no heartbeat brought the new key"
                    time.sleep(0.1)
            finally:
                uploader.stop()
        assert [r.key_id for r in sealed_to] == [new.key_id]
        assert Enrolment.load(enrolment_file).recipient().key_id == new.key_id, "kept on disk"

        after = _upload(vault, device, sealed_recording(kept.current.recipient()))
        leftover = _upload(vault, device, left_in_spool)
        for recording_id in (before, after, leftover):
            assert _plays(vault, people.reviewer_token, recording_id), recording_id
        assert uuid.UUID(after) != uuid.UUID(before)
        device.close()
    finally:
        vault.stop()
    verified = subprocess.run(
        [sys.executable, "-m", "vault.cli", "audit", "verify", "--data", str(vault.data)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stderr
    assert "matches" in verified.stdout

    assert _restored_copy_plays(vault, tmp_path, people.reviewer_token, before)
