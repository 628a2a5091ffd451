"""A really full disk (a small tmpfs in a private mount namespace) is a clear error state.

Two ways to be full: out of bytes (the spool's free-space check refuses first) and out of
inodes (free bytes remain, so the kernel's ENOSPC on creating the file is what stops it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.data import REPO_ROOT as ROOT


def _namespaces_work() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "true"],
        capture_output=True,
        timeout=30,
        check=False,
    )
    return probe.returncode == 0


@pytest.mark.parametrize(
    ("mount_options", "message", "status"),
    [
        ("size=1m", "bytes are free on the disk", "disk almost full"),
        ("size=64m,nr_inodes=24", "is full; free space on it", "disk full"),
    ],
    ids=["out-of-bytes", "out-of-inodes"],
)
def test_full_disk_keeps_every_spooled_segment(
    tmp_path: Path, mount_options: str, message: str, status: str
) -> None:
    if not _namespaces_work():
        if os.environ.get("CI"):
            pytest.fail("CI must be able to run `unshare --user --map-root-user --mount`")
        pytest.skip("this machine cannot create a user+mount namespace for a private tmpfs")
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    script = (
        f"mount -t tmpfs -o {mount_options} tmpfs {mount_point} && "
        f"exec {sys.executable} -m tests.children.spool_disk_full_child {mount_point}/spool"
    )
    result = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert 5 <= report["stored"] < 1000
    assert message in report["error"]
    assert report["status_error"].startswith(status)
    assert report["intact"] is True
    assert report["pending"] == report["stored"]
    assert report["tmp_files"] == 0
    assert report["after_ack_put"] > 60_000
    assert report["status_error_after"] is None
