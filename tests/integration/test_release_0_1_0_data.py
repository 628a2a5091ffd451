"""What release 0.1.0 wrote is read by this one (the version-skew rule in docs/design.md):
its spool uploads to a new vault, and the vault shows its version-1 recording metadata, with
what that version did not record shown as unknown.

The spool in tests/data/release-0.1.0/ was written by that release's own code (see the README
there); the vault is this release's, in process, serving HTTPS.
"""

from __future__ import annotations

import io
import shutil
import sqlite3
import time
import uuid
from pathlib import Path

import av

from agent.spool.spool import Spool, VaultState
from agent.upload.uploader import Uploader
from protocol.keys import VaultIdentity
from protocol.recording_metadata import RecordingMetadataView
from tests.helpers.data import RELEASE_0_1_0 as DATA
from tests.helpers.data import VECTORS
from tests.helpers.vault_harness import running_vault
from vault.roles import Role

RECORDING = uuid.UUID("aec73027-6a72-41b7-b1b2-7d4ca6dd7047")


def _under_session(spool_dir: Path, session: uuid.UUID, started_at: float) -> None:
    """Session ids are the vault's to give: move the recorded call under this vault's session,
    as if its trainer had started it here, leaving everything else as the old agent wrote it."""
    with sqlite3.connect(spool_dir / "manifest.sqlite") as manifest:
        manifest.execute(
            "UPDATE recordings SET session_id = ?, started_at = ?", (str(session), started_at)
        )


def test_a_spool_of_release_0_1_0_uploads_and_its_recording_is_shown(tmp_path: Path) -> None:
    identity = VaultIdentity.from_text((VECTORS / "test-identity.key").read_text())
    spool_dir = tmp_path / "spool"
    shutil.copytree(DATA / "spool", spool_dir)
    (tmp_path / "vault").mkdir()
    with running_vault(tmp_path / "vault", identity=identity) as vault:
        trainer = vault.add_person("tina", Role.TRAINER)
        vault.add_person("alice", Role.AGENT)
        session = vault.start_session("tina", "alice", calls=1)
        device = vault.enrol_device("alice")
        _under_session(spool_dir, session, vault.ctx.clock().timestamp())

        with Spool(spool_dir, min_free_bytes=0) as spool:
            assert spool.recovery.clean, spool.recovery
            assert [r.recording_id for r in spool.recordings_to_upload()] == [RECORDING]
            uploader = Uploader(spool, device, agent_version="0.1.0")
            uploader.start()
            try:
                deadline = time.monotonic() + 60
                while (found := spool.recording(RECORDING)) is None or (
                    found.vault_state is not VaultState.ENDED
                ):
                    assert time.monotonic() < deadline, (found, uploader.status())
                    time.sleep(0.05)
            finally:
                uploader.stop()
            assert spool.pending() == []

        ticket = vault.client.post(
            f"/api/v1/recordings/{RECORDING}/playback",
            json={"purpose": "training"},
            headers=trainer,
        )
        assert ticket.status_code == 201, ticket.text
        # Its version-1 metadata's segment count makes it whole (vault/completeness.py).
        assert ticket.json()["complete"] is True
        listed = vault.client.get("/api/v1/recordings", headers=vault.add_person(
            "rob", Role.REVIEWER)).json()  # fmt: skip
        assert (listed[0]["state"], listed[0]["media_segments"]) == ("complete", 3)
        metadata = RecordingMetadataView.model_validate(ticket.json()["metadata"])
        assert metadata.version == 1
        assert metadata.media_segments == 3
        assert metadata.pauses == []
        assert metadata.blanked is None  # release 0.1 kept counts only
        assert metadata.consent is None
        assert metadata.note is not None
        assert "release 0.1" in metadata.note

        media = vault.client.get(ticket.json()["url"], headers=trainer)
        assert media.status_code == 200
        assert media.headers["Callreel-Recording-Complete"] == "true"
    with av.open(io.BytesIO(media.content), mode="r") as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    assert len(frames) >= 3  # each segment opens with a keyframe; unchanged frames are skipped
    assert all((frame[:, :, 1] > 150).mean() > 0.9 for frame in frames)  # the green window
