"""Playback one segment at a time against a real vault over HTTPS: the ticket gives the layout,
each segment comes alone and in its place, a segment that never arrived is a named gap, the
waveform comes in bounded runs and is kept only sealed, and a ticket serves only the person it
was issued to."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import av
import pytest
import sqlalchemy as sa

from tests.helpers.vault_harness import (
    VaultUnderTest,
    running_vault,
    sealed_recording,
    upload_recording,
)
from vault.db.tables import segment_peaks, segments
from vault.roles import Role


@pytest.fixture
def vault(tmp_path: Path) -> Iterator[VaultUnderTest]:
    with running_vault(tmp_path) as vault:
        vault.add_person("rob", Role.REVIEWER)
        vault.add_person("rita", Role.REVIEWER)
        vault.add_person("tina", Role.TRAINER)
        vault.add_person("alice", Role.AGENT)
        yield vault


def _upload_without_segment_one(vault: VaultUnderTest) -> str:
    device = vault.enrol_device("alice")
    session = vault.start_session("tina", "alice")
    recording = sealed_recording(vault.ctx.identity.recipient)
    device.register_recording(recording.recording_id, session, vault.ctx.clock())
    for number, (sha, data) in enumerate(recording.segments):
        if number != 1:
            assert device.upload_segment(sha, data)
    return str(recording.recording_id)


def _video_start(media: bytes) -> float:
    with av.open(io.BytesIO(media)) as container:
        stream = container.streams.video[0]
        assert stream.start_time is not None
        assert stream.time_base is not None
        return float(stream.start_time * stream.time_base)


def test_segments_play_alone_in_place_and_a_missing_one_is_a_named_gap(
    vault: VaultUnderTest,
) -> None:
    recording = _upload_without_segment_one(vault)
    started = vault.client.post(
        f"/api/v1/recordings/{recording}/playback",
        json={"purpose": "training"},
        headers=vault.as_user("rob"),
    )
    assert started.status_code == 201, started.text
    ticket = started.json()
    assert ticket["segments"] == [0, 2]
    assert ticket["segment_seconds"] == 1.0
    assert 2.5 < ticket["duration_s"] < 3.5
    assert ticket["stream_type"].startswith('video/mp4; codecs="avc1.')
    assert ticket["complete"] is False
    assert "1" in ticket["incomplete"]

    rob = vault.as_user("rob")
    for index in (0, 2):
        segment = vault.client.get(f"{ticket['segment_url']}{index}", headers=rob)
        assert segment.status_code == 200
        assert segment.headers["content-type"] == "video/mp4"
        assert "no-store" in segment.headers["cache-control"]
        assert _video_start(segment.content) == pytest.approx(index, abs=0.25)
    gap = vault.client.get(f"{ticket['segment_url']}1", headers=rob)
    assert gap.status_code == 404
    assert "no media segment 1" in gap.json()["message"]
    for bad in ("-1", "x", "1000001"):
        assert vault.client.get(f"{ticket['segment_url']}{bad}", headers=rob).status_code == 422

    peaks = vault.client.get(ticket["peaks_url"], headers=rob).json()
    assert [s["index"] for s in peaks["segments"]] == [0, 2]
    assert [s["start_s"] for s in peaks["segments"]] == [0.0, 2.0]
    later = vault.client.get(ticket["peaks_url"], params={"first": 1, "count": 1}, headers=rob)
    assert later.json()["segments"] == []
    for count in (0, 121):
        refused = vault.client.get(ticket["peaks_url"], params={"count": count}, headers=rob)
        assert refused.status_code == 422

    # The ticket is rob's: another reviewer with the same right is refused everything on it.
    rita = vault.as_user("rita")
    for path in (f"{ticket['segment_url']}0", ticket["peaks_url"], ticket["url"]):
        assert vault.client.get(path, headers=rita).status_code == 404


def test_a_shredded_recording_stops_playing_on_a_live_ticket(vault: VaultUnderTest) -> None:
    recording = _upload_without_segment_one(vault)
    rob = vault.as_user("rob")
    ticket = vault.client.post(
        f"/api/v1/recordings/{recording}/playback", json={"purpose": "training"}, headers=rob
    ).json()
    assert vault.client.get(f"{ticket['segment_url']}0", headers=rob).status_code == 200
    vault.add_person("dora", Role.ADMINISTRATOR)
    deleted = vault.client.post(
        f"/api/v1/recordings/{recording}/delete",
        json={"reason": "test of crypto-shredding"},
        headers=vault.as_user("dora"),
    )
    assert deleted.status_code == 200, deleted.text
    # The segment was cached by the process; the key's absence is checked first.
    after = vault.client.get(f"{ticket['segment_url']}0", headers=rob)
    assert after.status_code == 410


def test_the_waveform_is_kept_sealed_opened_on_later_playbacks_and_shredded(
    vault: VaultUnderTest,
) -> None:
    device = vault.enrol_device("alice")
    recording = upload_recording(vault, device, vault.start_session("tina", "alice"))
    rob = vault.as_user("rob")

    def waveform() -> list[dict[str, object]]:
        ticket = vault.client.post(
            f"/api/v1/recordings/{recording.recording_id}/playback",
            json={"purpose": "training"},
            headers=rob,
        ).json()
        answer = vault.client.get(ticket["peaks_url"], headers=rob)
        assert answer.status_code == 200, answer.text
        segments: list[dict[str, object]] = answer.json()["segments"]
        return segments

    first = waveform()
    with vault.ctx.engine.connect() as connection:
        kept = connection.execute(
            sa.select(segment_peaks.c.segment_index, segment_peaks.c.sealed).where(
                segment_peaks.c.recording_id == recording.recording_id
            )
        ).all()
    assert sorted(row.segment_index for row in kept) == [0, 1, 2]
    lanes = first[1]
    assert isinstance(lanes["agent"], list)
    assert bytes(lanes["agent"]) not in b"".join(row.sealed for row in kept)  # sealed, not kept

    # The middle segment's media out of reach: its waveform still opens, sealed.
    with vault.ctx.engine.begin() as connection:
        connection.execute(
            segments.update()
            .where(segments.c.recording_id == recording.recording_id, segments.c.segment_index == 1)
            .values(blob_key="recordings/nowhere")
        )
    assert waveform() == first

    vault.add_person("dora", Role.ADMINISTRATOR)
    deleted = vault.client.post(
        f"/api/v1/recordings/{recording.recording_id}/delete",
        json={"reason": "test of crypto-shredding"},
        headers=vault.as_user("dora"),
    )
    assert deleted.status_code == 200, deleted.text
    with vault.ctx.engine.connect() as connection:
        left = connection.execute(
            sa.select(sa.func.count()).where(segment_peaks.c.recording_id == recording.recording_id)
        ).scalar_one()
    assert left == 0
