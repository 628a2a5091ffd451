"""A playback started through one vault process plays through another: two real `callreel-vault
serve` processes sharing one PostgreSQL database (and the data directory's segments and key),
as two vaults behind a load balancer would."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from agent.vault_connection.client import DeviceClient, enrol
from protocol.keys import VaultRecipient
from protocol.pinned_tls import client_ssl_context
from protocol.signing import DeviceKey
from tests.helpers.agent_harness import VaultProcess
from tests.helpers.vault_harness import sealed_recording


@pytest.fixture
def two_vaults(tmp_path: Path, fresh_postgres_url: str) -> Iterator[tuple[VaultProcess, ...]]:
    first = VaultProcess(tmp_path / "vault", db=fresh_postgres_url)
    second = VaultProcess(tmp_path / "vault", db=fresh_postgres_url)
    first.start()
    try:
        second.start()
        yield first, second
    finally:
        second.stop()
        first.stop()


def _recording_uploaded_through(vault: VaultProcess) -> str:
    vault.admin("user", "add", "alice", "--role", "agent")
    vault.admin("user", "add", "tom", "--role", "trainer")
    trainer = vault.admin("token", "create", "tom").strip()
    with vault.client(trainer) as client:
        started = client.post("/api/v1/sessions", json={
            "agent": "alice", "calls": 1, "purpose": "training", "notice_text": "Coaching.",
            "expires_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
        })  # fmt: skip
        assert started.status_code == 201, started.text
    key = DeviceKey.generate()
    http = httpx.Client(base_url=vault.url, verify=client_ssl_context(vault.ca), timeout=60)
    enrolled = enrol(http, vault.admin("enroll-token", "--agent", "alice").strip(), key, "pc-1")
    recording = sealed_recording(VaultRecipient.from_text(enrolled.vault_recipient))
    with DeviceClient(http, enrolled.device_id, key) as device:
        session_id = device.sessions()[0].id
        device.register_recording(recording.recording_id, session_id, datetime.now(UTC))
        for sha, data in recording.segments:
            assert device.upload_segment(sha, data)
    return str(recording.recording_id)


def test_a_ticket_issued_by_one_process_plays_through_the_other(
    two_vaults: tuple[VaultProcess, VaultProcess],
) -> None:
    first, second = two_vaults
    recording_id = _recording_uploaded_through(first)
    first.admin("user", "add", "rita", "--role", "reviewer")
    reviewer = first.admin("token", "create", "rita").strip()
    with first.client(reviewer) as through_first, second.client(reviewer) as through_second:
        ticket = through_first.post(
            f"/api/v1/recordings/{recording_id}/playback", json={"purpose": "training"}
        )
        assert ticket.status_code == 201, ticket.text
        url = ticket.json()["url"]
        whole = through_first.get(url)
        assert whole.status_code == 200
        elsewhere = through_second.get(url, headers={"Range": "bytes=0-1023"})
        assert elsewhere.status_code == 206, elsewhere.text
        assert elsewhere.content == whole.content[:1024]
        assert through_second.get(url).content == whole.content
        # The segment layout too is worked out by whichever process is asked.
        first_segment = through_second.get(ticket.json()["segment_url"] + "0")
        assert first_segment.status_code == 200, first_segment.text
        assert first_segment.headers["content-type"] == "video/mp4"

    first.admin("user", "add", "audrey", "--role", "auditor")
    with second.client(first.admin("token", "create", "audrey").strip()) as auditor:
        actions = [record["action"] for record in auditor.get("/api/v1/audit").json()]
    assert actions.count("playback") == 1, "logged once, when the ticket was issued"
