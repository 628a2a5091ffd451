"""The vault end to end through its HTTP API: enrolment, sessions and quotas, uploads,
purpose-bound access logged first, releases, retention, subject access. Every test runs on
the embedded default (SQLite + disk) and on PostgreSQL + Ceph RGW (S3 with Object Lock)."""

from __future__ import annotations

import dataclasses
import io
import json
import time
import uuid
import zipfile
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import av
import httpx
import pytest
import sqlalchemy as sa

from agent.vault_connection.client import DeviceClient, VaultRequestError, enrol
from protocol.keys import VaultRecipient
from protocol.segments.format import METADATA_SEGMENT_INDEX, MediaType, SegmentError
from protocol.segments.unseal import open_segment
from protocol.signing import DeviceKey, sign_request
from tests.helpers.data import VECTORS
from tests.helpers.vault_harness import (
    SealedRecording,
    VaultUnderTest,
    running_vault,
    sealed_recording,
    sha256_of,
    upload_recording,
)
from vault.db.engine import utc_now
from vault.ingest import blob_key
from vault.keystore import stored_stanza
from vault.purposes import RetentionRule
from vault.roles import Role
from vault.storage.base import SegmentLocked, SegmentNotFound

BACKENDS = ["sqlite+disk", "postgresql+s3"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> tuple[str | None, str | None]:
    if request.param == "sqlite+disk":
        return None, None
    db_url: str = request.getfixturevalue("fresh_postgres_url")
    store_url: str = request.getfixturevalue("fresh_s3_bucket")
    return db_url, store_url


def _vault(
    tmp_path: Path, backend: tuple[str | None, str | None], **options: Any
) -> Iterator[VaultUnderTest]:
    db_url, store_url = backend
    with running_vault(tmp_path, db_url=db_url, store_url=store_url, **options) as vault:
        vault.add_person("tina", Role.TRAINER)
        vault.add_person("alice", Role.AGENT)
        vault.add_person("rob", Role.REVIEWER)
        vault.add_person("zoe", Role.AUTHORISER)
        vault.add_person("max", Role.ADMINISTRATOR)
        vault.add_person("una", Role.AUDITOR)
        yield vault


@pytest.fixture
def vault(tmp_path: Path, backend: tuple[str | None, str | None]) -> Iterator[VaultUnderTest]:
    yield from _vault(tmp_path, backend)


@pytest.fixture
def device(vault: VaultUnderTest) -> DeviceClient:
    return vault.enrol_device("alice")


def _audit_actions(vault: VaultUnderTest) -> list[tuple[str, str]]:
    records = vault.client.get("/api/v1/audit", headers=vault.as_user("una")).json()
    return [(r["actor"], r["action"]) for r in records]


def _decode(media: bytes) -> tuple[float, set[str]]:
    with av.open(io.BytesIO(media), mode="r") as container:
        kinds: set[str] = {s.type for s in container.streams}
        duration = float(container.duration or 0) / 1_000_000
    return duration, kinds


def test_a_recording_is_played_in_ranges_and_downloaded_after_its_access_is_logged(
    vault: VaultUnderTest, device: DeviceClient
) -> None:
    session = vault.start_session("tina", "alice", calls=2)
    assert [s.id for s in device.sessions()] == [session]
    recording = upload_recording(vault, device, session)

    started = vault.client.post(
        f"/api/v1/recordings/{recording.recording_id}/playback",
        headers=vault.as_user("tina"),
        json={"purpose": "training"},
    )
    assert started.status_code == 201, started.text
    assert _audit_actions(vault)[-1] == ("tina", "playback")
    url = started.json()["url"]
    whole = vault.client.get(url, headers=vault.as_user("tina"))
    assert whole.status_code == 200
    duration, kinds = _decode(whole.content)
    assert kinds == {"video", "audio"}
    assert 2.5 < duration < 3.5
    part = vault.client.get(url, headers={**vault.as_user("tina"), "Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.content == whole.content[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(whole.content)}"
    # A ticket is personal: someone else's session cannot use it.
    assert vault.client.get(url, headers=vault.as_user("rob")).status_code == 404

    download = vault.client.get(
        f"/api/v1/recordings/{recording.recording_id}/download",
        params={"purpose": "training"},
        headers=vault.as_user("rob"),
    )
    assert download.status_code == 200
    assert download.content == whole.content
    assert _audit_actions(vault)[-1] == ("rob", "download")
    # The agent sees who opened their recording, from the tray and from the console.
    seen = [(h.who, h.action, h.purpose) for h in device.access_history()]
    assert seen == [("tina", "playback", "training"), ("rob", "download", "training")]
    mine = vault.client.get("/api/v1/me/access-history", headers=vault.as_user("alice")).json()
    assert [h["who"] for h in mine] == ["tina", "rob"]
    listed = vault.client.get("/api/v1/recordings", headers=vault.as_user("tina")).json()
    assert [(r["id"], r["state"]) for r in listed] == [(str(recording.recording_id), "complete")]


def test_access_for_another_purpose_is_refused_and_not_granted(
    vault: VaultUnderTest, device: DeviceClient
) -> None:
    recording = upload_recording(vault, device, vault.start_session("tina", "alice"))
    refused = vault.client.post(
        f"/api/v1/recordings/{recording.recording_id}/playback",
        headers=vault.as_user("tina"),
        json={"purpose": "dispute"},
    )
    assert refused.status_code == 403
    assert "made for training" in refused.json()["message"]
    assert ("tina", "playback") not in _audit_actions(vault)


def test_no_key_is_released_when_the_access_record_cannot_be_written(
    vault: VaultUnderTest, device: DeviceClient
) -> None:
    recording = upload_recording(vault, device, vault.start_session("tina", "alice"))
    with vault.ctx.engine.begin() as connection:
        connection.execute(sa.text("ALTER TABLE audit_log RENAME TO audit_log_away"))
    refused = vault.client.post(
        f"/api/v1/recordings/{recording.recording_id}/playback",
        headers=vault.as_user("tina"),
        json={"purpose": "training"},
    )
    assert refused.status_code == 503
    assert "access log cannot be written" in refused.json()["message"]
    assert "url" not in refused.json()


def test_uploads_are_idempotent_checked_and_refused_with_reasons(
    vault: VaultUnderTest, device: DeviceClient
) -> None:
    recording = upload_recording(vault, device, vault.start_session("tina", "alice"))
    sha, data = recording.segments[0]
    assert device.upload_segment(sha, data) is False  # a retry is a success

    resealed = recording.sealer.seal(0, MediaType.MP4, b"different bytes at the same place")
    tampered = data[:-1] + bytes([data[-1] ^ 1])
    unregistered = sealed_recording(vault.ctx.identity.recipient).segments[0][1]
    other_key = VaultRecipient.load(VECTORS / "other-recipient.pub")
    wrong_key = sealed_recording(other_key)
    device.register_recording(
        wrong_key.recording_id, vault.start_session("tina", "alice"), vault.ctx.clock()
    )
    someone_else = vault.enrol_device("alice")
    theirs = upload_recording(vault, someone_else, vault.start_session("tina", "alice"))
    cases = [
        (sha256_of(resealed), resealed, 409, "segment-conflict"),
        ("0" * 64, data, 400, "digest-mismatch"),
        (sha256_of(tampered), tampered, 400, "segment-chunk-tampered"),
        (sha256_of(b"hello"), b"hello", 400, "segment-malformed"),
        (sha256_of(unregistered), unregistered, 404, "not-found"),
        (*wrong_key.segments[0], 400, "segment-wrong-key"),
        (*theirs.segments[1], 403, "forbidden"),
    ]
    for name, body, status, code in cases:
        with pytest.raises(VaultRequestError) as refused:
            device.upload_segment(name, body)
        assert (refused.value.status, refused.value.code) == (status, code), str(refused.value)
        assert refused.value.retryable is False
    vault.app.state.vault = dataclasses.replace(vault.ctx, max_segment_bytes=1000)
    with pytest.raises(VaultRequestError) as too_large:
        device.upload_segment(sha, data)
    assert (too_large.value.status, too_large.value.code) == (413, "too-large")


def test_a_session_quota_is_enforced_by_the_vault(
    vault: VaultUnderTest, device: DeviceClient
) -> None:
    session = vault.start_session("tina", "alice", calls=1)
    first = upload_recording(vault, device, session)
    device.register_recording(first.recording_id, session, vault.ctx.clock())  # a retry
    assert device.sessions() == []
    with pytest.raises(VaultRequestError) as refused:
        upload_recording(vault, device, session)
    assert refused.value.status == 403
    assert "no calls left" in str(refused.value)
    ended = vault.start_session("tina", "alice", calls=5)
    assert (
        vault.client.post(
            f"/api/v1/sessions/{ended}/end", headers=vault.as_user("tina")
        ).status_code
        == 200
    )
    vault.ctx.clock.advance(timedelta(seconds=1))  # type: ignore[attr-defined]
    with pytest.raises(VaultRequestError, match="had ended"):
        upload_recording(vault, device, ended)


def test_device_requests_are_authenticated_and_not_replayable(
    vault: VaultUnderTest, device: DeviceClient
) -> None:
    path = "/api/v1/agent/sessions"
    headers = sign_request(
        device._key, device._device_id, "GET", path, b"", now=vault.ctx.clock().timestamp()
    )
    assert vault.client.get(path, headers=headers).status_code == 200
    replayed = vault.client.get(path, headers=headers)
    assert replayed.status_code == 401
    assert "replayed" in replayed.json()["message"]
    stale = sign_request(
        device._key,
        device._device_id,
        "GET",
        path,
        b"",
        now=vault.ctx.clock().timestamp() - 3600,
    )
    assert vault.client.get(path, headers=stale).status_code == 401
    unknown = sign_request(
        device._key, uuid.uuid4(), "GET", path, b"", now=vault.ctx.clock().timestamp()
    )
    assert "unknown device" in vault.client.get(path, headers=unknown).json()["message"]
    assert vault.client.get(path).status_code == 401
    revoked = vault.client.post(
        f"/api/v1/devices/{device._device_id}/revoke", headers=vault.as_user("max")
    )
    assert revoked.status_code == 200
    with pytest.raises(VaultRequestError) as refused:
        device.sessions()
    assert refused.value.status == 403
    token = vault.client.post(
        "/api/v1/enrol-tokens", headers=vault.as_user("max"), json={"agent": "alice"}
    ).json()["token"]
    enrol(vault.client, token, DeviceKey.generate(), "pc-2")
    with pytest.raises(VaultRequestError) as reused:
        enrol(vault.client, token, DeviceKey.generate(), "pc-3")
    assert reused.value.status == 401


def test_heartbeats_show_silent_and_lagging_agents(
    vault: VaultUnderTest, device: DeviceClient
) -> None:
    quiet = vault.enrol_device("alice")
    device.heartbeat("0.1.0", backlog_segments=500, backlog_bytes=50_000_000)
    quiet.heartbeat("0.1.0", backlog_segments=0, backlog_bytes=0)
    vault.ctx.clock.advance(timedelta(minutes=10))  # type: ignore[attr-defined]
    device.heartbeat("0.1.0", backlog_segments=500, backlog_bytes=50_000_000)
    vault.ctx.clock.advance(timedelta(minutes=10))  # type: ignore[attr-defined]
    report = vault.client.get("/api/v1/devices", headers=vault.as_user("una")).json()
    status = {row["device_id"]: row["status"] for row in report}
    assert status == {
        str(device._device_id): "behind",
        str(quiet._device_id): "silent",
    }


SHORT_RETENTION = RetentionRule(keep=timedelta(seconds=3), delete_after=timedelta(seconds=4))


def _wait_until_past(moment: datetime) -> None:
    time.sleep(max(0.0, (moment - utc_now()).total_seconds()) + 0.5)


def _playback(vault: VaultUnderTest, recording_id: uuid.UUID) -> int:
    return vault.client.post(
        f"/api/v1/recordings/{recording_id}/playback",
        headers=vault.as_user("tina"),
        json={"purpose": "training"},
    ).status_code


def _blobs(recording: SealedRecording) -> list[str]:
    return [blob_key(recording.recording_id, i) for i in (0, 1, 2, METADATA_SEGMENT_INDEX)]


def test_retention_shreds_expired_recordings_but_not_held_ones(
    tmp_path: Path, backend: tuple[str | None, str | None]
) -> None:
    for vault in _vault(tmp_path, backend, clock=utc_now, retention=SHORT_RETENTION):
        device = vault.enrol_device("alice")
        session = vault.start_session("tina", "alice", calls=2)
        held = upload_recording(vault, device, session)
        expiring = upload_recording(vault, device, session)
        backup = [vault.ctx.store.get(key) for key in _blobs(expiring)]
        admin = vault.as_user("max")
        hold = vault.client.put(
            f"/api/v1/recordings/{held.recording_id}/hold",
            headers=admin,
            json={"reason": "dispute 42 with the customer"},
        )
        assert hold.status_code == 200, hold.text
        early = vault.client.post("/api/v1/retention/run", headers=admin).json()
        assert early == {"shredded": [], "held": [], "segments_locked": 0}
        refused = vault.client.post(
            f"/api/v1/recordings/{held.recording_id}/delete",
            headers=admin,
            json={"reason": "tidy up"},
        )
        assert refused.status_code == 409
        assert "legal hold" in refused.json()["message"]

        _wait_until_past(vault.ctx.clock() + SHORT_RETENTION.delete_after)
        report = vault.client.post("/api/v1/retention/run", headers=admin).json()
        assert report == {
            "shredded": [str(expiring.recording_id)],
            "held": [str(held.recording_id)],
            "segments_locked": 0,
        }
        assert _playback(vault, expiring.recording_id) == 410
        assert _playback(vault, held.recording_id) == 201
        for key in _blobs(expiring):
            with pytest.raises(SegmentNotFound):
                vault.ctx.store.get(key)
        # The store refuses to delete a held segment, whatever the vault's own checks.
        with pytest.raises(SegmentLocked):
            vault.ctx.store.delete(_blobs(held)[0])
        # Copies of the stored segments (a backup) hold nothing the vault key opens, and the
        # vault kept no copy of the destroyed key stanza.
        with vault.ctx.engine.connect() as connection:
            assert stored_stanza(connection, expiring.recording_id) is None
        for copy in backup:
            with pytest.raises(SegmentError):
                open_segment(vault.ctx.identity, copy)
        assert ("max", "legal-hold") in _audit_actions(vault)
        assert ("system:retention", "deletion") not in _audit_actions(vault)
        assert ("max", "deletion") in _audit_actions(vault)

        lifted = vault.client.delete(f"/api/v1/recordings/{held.recording_id}/hold", headers=admin)
        assert lifted.status_code == 200
        again = vault.client.post("/api/v1/retention/run", headers=admin).json()
        assert again["shredded"] == [str(held.recording_id)]
        assert _playback(vault, held.recording_id) == 410


def test_early_deletion_destroys_the_key_while_object_lock_keeps_the_segments(
    tmp_path: Path, backend: tuple[str | None, str | None]
) -> None:
    rule = RetentionRule(keep=timedelta(seconds=3), delete_after=timedelta(days=30))
    for vault in _vault(tmp_path, backend, clock=utc_now, retention=rule):
        device = vault.enrol_device("alice")
        recording = upload_recording(vault, device, vault.start_session("tina", "alice"))
        deleted = vault.client.post(
            f"/api/v1/recordings/{recording.recording_id}/delete",
            headers=vault.as_user("max"),
            json={"reason": "the agent objected"},
        )
        assert deleted.json() == {
            "recording_id": str(recording.recording_id),
            "state": "shredded",
            "segments_locked": 4,
        }
        assert _playback(vault, recording.recording_id) == 410
        with pytest.raises(SegmentLocked):
            vault.ctx.store.delete(_blobs(recording)[0])
        assert vault.ctx.store.get(_blobs(recording)[0])  # still stored, unreadable

        _wait_until_past(vault.ctx.clock() + rule.keep)
        report = vault.client.post("/api/v1/retention/run", headers=vault.as_user("max")).json()
        assert report == {"shredded": [], "held": [], "segments_locked": 0}
        for key in _blobs(recording):
            with pytest.raises(SegmentNotFound):
                vault.ctx.store.get(key)


def test_a_release_needs_a_second_person_and_its_export_is_logged(
    vault: VaultUnderTest, device: DeviceClient
) -> None:
    recording = upload_recording(vault, device, vault.start_session("tina", "alice"))
    vault.add_person("zed", Role.REVIEWER, Role.AUTHORISER)
    body = {"purpose": "training", "recipient": "Training team, Leeds", "reason": "course 7"}
    url = f"/api/v1/recordings/{recording.recording_id}/releases"
    requested = vault.client.post(url, headers=vault.as_user("rob"), json=body)
    assert requested.status_code == 201, requested.text
    release = requested.json()["release_id"]
    own = vault.client.post(url, headers=vault.as_user("zed"), json=body).json()["release_id"]

    def authorise(who: str, release_id: str) -> httpx.Response:
        return vault.client.post(
            f"/api/v1/releases/{release_id}/authorise", headers=vault.as_user(who)
        )

    def export(who: str) -> httpx.Response:
        return vault.client.get(f"/api/v1/releases/{release}/export", headers=vault.as_user(who))

    assert authorise("rob", release).status_code == 403  # no authoriser role
    own_attempt = authorise("zed", own)
    assert own_attempt.status_code == 403
    assert "someone other than its requester" in own_attempt.json()["message"]
    assert export("rob").status_code == 403  # not authorised yet
    assert authorise("zoe", release).status_code == 200
    assert authorise("zed", release).status_code == 409  # already authorised
    assert export("zoe").status_code == 403  # only the requester exports
    exported = export("rob")
    assert exported.status_code == 200
    assert _decode(exported.content)[1] == {"video", "audio"}

    log = vault.client.get("/api/v1/releases", headers=vault.as_user("una")).json()
    entry = next(e for e in log if e["id"] == release)
    started = vault.client.get("/api/v1/recordings", headers=vault.as_user("una")).json()
    assert entry["purpose"] == "training"
    assert entry["requester"] == "rob"
    assert entry["authoriser"] == "zoe"
    assert entry["recorded_at"] == started[0]["started_at"]
    actions = _audit_actions(vault)
    assert ("rob", "release-request") in actions
    assert ("zoe", "release-authorise") in actions
    assert actions[-1] == ("rob", "release-export")


def test_subject_access_exports_everything_about_one_agent(
    vault: VaultUnderTest, device: DeviceClient
) -> None:
    recording = upload_recording(vault, device, vault.start_session("tina", "alice"))
    assert _playback(vault, recording.recording_id) == 201
    response = vault.client.get("/api/v1/agents/alice/subject-access", headers=vault.as_user("max"))
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        summary = json.loads(archive.read("subject.json"))
        media = archive.read(f"recordings/{recording.recording_id}.mp4")
    assert summary["agent"]["username"] == "alice"
    assert [r["id"] for r in summary["recordings"]] == [str(recording.recording_id)]
    assert len(summary["devices"]) == 1
    assert ("tina", "playback") in [(h["who"], h["action"]) for h in summary["access_history"]]
    assert _decode(media)[1] == {"video", "audio"}
    assert ("max", "subject-access-export") in _audit_actions(vault)


def test_a_team_session_applies_to_each_agent_of_the_team_only(vault: VaultUnderTest) -> None:
    vault.add_person("nina", Role.AGENT, team="north")
    vault.add_person("sam", Role.AGENT, team="south")
    started = vault.client.post(
        "/api/v1/sessions",
        headers=vault.as_user("tina"),
        json={
            "team": "north",
            "calls": 1,
            "purpose": "quality",
            "expires_at": (vault.ctx.clock() + timedelta(hours=1)).isoformat(),
            "notice_text": "The north team's calls are recorded for quality checks today.",
        },
    )
    assert started.status_code == 201, started.text
    north, south = vault.enrol_device("nina"), vault.enrol_device("sam")
    [offered] = north.sessions()
    assert (offered.team, offered.purpose, offered.calls_left) == ("north", "quality", 1)
    assert offered.notice_text.startswith("The north team's calls")
    assert south.sessions() == []
    session = offered.id
    with pytest.raises(VaultRequestError) as refused:
        upload_recording(vault, south, session)
    assert refused.value.status == 404
    upload_recording(vault, north, session)
    assert north.sessions() == []
