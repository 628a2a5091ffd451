"""A recording is complete only when its metadata and every media segment it announces have
arrived; otherwise the vault says which are missing, in lists, playback and download. Real
vault over HTTPS, on SQLite + disk and PostgreSQL + Ceph RGW, with real sealed recordings."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from agent.vault_connection.client import DeviceClient
from protocol.api.vocabulary import RecordingEnd
from protocol.segments.format import METADATA_SEGMENT_INDEX
from tests.helpers.vault_harness import (
    SealedRecording,
    VaultUnderTest,
    running_vault,
    sealed_recording,
)
from vault.roles import Role

BACKENDS = ["sqlite+disk", "postgresql+s3"]


@pytest.fixture(params=BACKENDS)
def vault(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VaultUnderTest]:
    db_url = store_url = None
    if request.param != "sqlite+disk":
        db_url = request.getfixturevalue("fresh_postgres_url")
        store_url = request.getfixturevalue("fresh_s3_bucket")
    with running_vault(tmp_path, db_url=db_url, store_url=store_url) as vault:
        vault.add_person("tina", Role.TRAINER)
        vault.add_person("alice", Role.AGENT)
        vault.add_person("rob", Role.REVIEWER)
        yield vault


def _upload(
    vault: VaultUnderTest, device: DeviceClient, *, leave_out: set[int], ended: bool = True
) -> SealedRecording:
    recording = sealed_recording(vault.ctx.identity.recipient)
    session = vault.start_session("tina", "alice")
    device.register_recording(recording.recording_id, session, vault.ctx.clock())
    for position, (sha, data) in enumerate(recording.segments):
        is_metadata = position == len(recording.segments) - 1
        index = METADATA_SEGMENT_INDEX if is_metadata else position
        if index not in leave_out:
            assert device.upload_segment(sha, data)
    if ended:
        device.end_recording(recording.recording_id, RecordingEnd.COMPLETE)
    return recording


def _listed(vault: VaultUnderTest, recording_id: uuid.UUID) -> dict[str, object]:
    listed = vault.client.get("/api/v1/recordings", headers=vault.as_user("rob")).json()
    found: dict[str, object] = next(r for r in listed if r["id"] == str(recording_id))
    return found


def _download(
    vault: VaultUnderTest, recording_id: uuid.UUID, *, incomplete: bool = False
) -> httpx.Response:
    query = "purpose=training" + ("&incomplete=true" if incomplete else "")
    return vault.client.get(
        f"/api/v1/recordings/{recording_id}/download?{query}", headers=vault.as_user("rob")
    )


def test_a_whole_recording_is_complete_and_says_so(vault: VaultUnderTest) -> None:
    recording = _upload(vault, vault.enrol_device("alice"), leave_out=set())
    listed = _listed(vault, recording.recording_id)
    assert (listed["state"], listed["media_segments"], listed["missing_segments"]) == (
        "complete", 3, [],
    )  # fmt: skip
    downloaded = _download(vault, recording.recording_id)
    assert downloaded.status_code == 200
    assert downloaded.headers["Callreel-Recording-Complete"] == "true"


@pytest.mark.parametrize(
    ("left_out", "missing"), [({1, 2}, [1, 2]), ({0}, [0])], ids=["last-two", "first"]
)
def test_missing_media_segments_make_it_incomplete_everywhere(
    vault: VaultUnderTest, left_out: set[int], missing: list[int]
) -> None:
    recording = _upload(vault, vault.enrol_device("alice"), leave_out=left_out)
    listed = _listed(vault, recording.recording_id)
    assert (listed["state"], listed["media_segments"], listed["missing_segments"]) == (
        "incomplete", 3, missing,
    )  # fmt: skip

    refused = _download(vault, recording.recording_id)
    assert refused.status_code == 409
    assert refused.json()["error"] == "recording-incomplete"
    assert f"media segments {', '.join(map(str, missing))} missing" in refused.json()["message"]

    ticket = vault.client.post(
        f"/api/v1/recordings/{recording.recording_id}/playback",
        headers=vault.as_user("rob"),
        json={"purpose": "training"},
    ).json()
    assert ticket["complete"] is False
    assert "missing" in ticket["incomplete"]
    played = vault.client.get(ticket["url"], headers=vault.as_user("rob"))
    as_it_is = _download(vault, recording.recording_id, incomplete=True)
    if 0 in left_out:
        # The others begin with pictures that refer back to segment 0: nothing can play yet.
        for answer in (as_it_is, played):
            assert answer.status_code == 409
            assert "first, which the others refer to" in answer.json()["message"]
    else:
        for answer in (as_it_is, played):
            assert answer.status_code == 200
            assert answer.headers["Callreel-Recording-Complete"] == "false"
        assert "missing" in as_it_is.headers["Callreel-Missing-Segments"]


def test_a_late_segment_completes_it(vault: VaultUnderTest) -> None:
    device = vault.enrol_device("alice")
    recording = _upload(vault, device, leave_out={2})
    assert _listed(vault, recording.recording_id)["state"] == "incomplete"
    sha, data = recording.segments[2]
    assert device.upload_segment(sha, data)
    assert _listed(vault, recording.recording_id)["state"] == "complete"
    assert _download(vault, recording.recording_id).status_code == 200


def test_without_its_metadata_a_recording_is_not_complete(vault: VaultUnderTest) -> None:
    recording = _upload(vault, vault.enrol_device("alice"), leave_out={METADATA_SEGMENT_INDEX})
    listed = _listed(vault, recording.recording_id)
    assert (listed["state"], listed["media_segments"]) == ("incomplete", None)
    refused = _download(vault, recording.recording_id)
    assert refused.status_code == 409
    assert "metadata segment" in refused.json()["message"]
