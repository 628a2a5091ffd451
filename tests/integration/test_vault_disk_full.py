"""A full disk under a real `callreel-vault serve`: uploads get 503 with Retry-After and the
reason (not a bare 500 or a dropped connection), the vault goes on serving, and temporary files
a crash left are removed when it starts.

The vault runs in a private mount namespace with a small tmpfs over its segment directory or
its upload scratch directory (unshare, as the spool's disk-full test does), so the disk is
really full while the rest of the data directory stays on the test's own disk.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.vault_connection.client import VaultRequestError
from protocol.keys import VaultRecipient
from tests.helpers.agent_harness import (
    VaultProcess,
    add_people,
    enrolled_device,
    start_session,
)
from tests.helpers.vault_harness import sealed_recording


def _namespaces_work() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "true"],
        capture_output=True, timeout=30, check=False,
    )  # fmt: skip
    return probe.returncode == 0


pytestmark = pytest.mark.skipif(
    not _namespaces_work(), reason="unprivileged mount namespaces are not available here"
)


def _on_small_tmpfs(directory: Path, size: str) -> tuple[str, ...]:
    """A launcher that mounts a tmpfs of `size` over `directory`, then runs the vault."""
    directory.mkdir(parents=True, exist_ok=True)
    mount = 'mount -t tmpfs -o "size=$0,mode=0700" tmpfs "$1" && shift && exec "$@"'
    return ("unshare", "--user", "--map-root-user", "--mount", "--", "sh", "-c", mount,
            size, str(directory))  # fmt: skip


@pytest.fixture
def vault_with_small(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VaultProcess]:
    directory, size = request.param
    data = tmp_path / "vault"
    vault = VaultProcess(data, launcher=_on_small_tmpfs(data / directory, size))
    vault.start()
    try:
        yield vault
    finally:
        vault.stop()


def _fill(vault: VaultProcess) -> VaultRequestError:
    """Upload recordings until the vault refuses one; that refusal."""
    people = add_people(vault)
    recipient = VaultRecipient.load(vault.data / "vault-recipient.pub")
    with enrolled_device(vault, people.agent) as device:
        for _ in range(50):
            start_session(vault, people)
            session_id = device.sessions()[0].id
            recording = sealed_recording(recipient)
            device.register_recording(recording.recording_id, session_id, datetime.now(UTC))
            for sha, data in recording.segments:
                try:
                    device.upload_segment(sha, data)
                except VaultRequestError as refused:
                    assert device.sessions() is not None, "the vault goes on answering"
                    return refused
    raise AssertionError("50 recordings fitted on the small disk")


@pytest.mark.parametrize("vault_with_small", [("segments", "400k")], indirect=True)
def test_a_full_segment_store_answers_503_with_the_reason(vault_with_small: VaultProcess) -> None:
    refused = _fill(vault_with_small)
    assert refused.status == 503, refused
    assert refused.code == "storage-full"
    assert "full" in str(refused)
    assert refused.retryable


@pytest.mark.parametrize("vault_with_small", [("tmp", "8k")], indirect=True)
def test_a_full_upload_scratch_answers_503_with_the_reason(vault_with_small: VaultProcess) -> None:
    refused = _fill(vault_with_small)
    assert refused.status == 503, refused
    assert refused.code == "disk-full"
    assert refused.retryable


def test_temporary_files_left_by_a_crash_are_removed_at_start(tmp_path: Path) -> None:
    data = tmp_path / "vault"
    scratch, incoming = data / "tmp", data / "segments" / ".incoming"
    for directory in (scratch, incoming):
        directory.mkdir(parents=True)
    hour_ago = time.time() - 3600
    stale = [scratch / "tmpab12cd", incoming / "0123456789abcdef.tmp"]
    for path in stale:
        path.write_bytes(b"half a segment")
        os.utime(path, (hour_ago, hour_ago))
    in_progress = incoming / "fedcba9876543210.tmp"  # another vault process's write
    in_progress.write_bytes(b"being written")
    vault = VaultProcess(data)
    vault.start()
    try:
        assert [path.exists() for path in stale] == [False, False]
        assert in_progress.exists()
    finally:
        vault.stop()
