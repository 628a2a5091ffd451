"""A directory the agent keeps recordings or keys in ends up private, whether it was made
here or found already there with loose modes."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from protocol.private_directories import NotPrivateError, make_private


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_a_new_directory_is_made_0700(tmp_path: Path) -> None:
    target = tmp_path / "a" / "spool"
    assert make_private(target, "spool") == []
    assert _mode(target) == 0o700


def test_an_existing_loose_tree_is_tightened(tmp_path: Path) -> None:
    root = tmp_path / "spool"
    (root / "segments").mkdir(parents=True)
    (root / "segments" / "1.seg").write_bytes(b"x")
    (root / "manifest.sqlite").write_bytes(b"x")
    (root / "run.sh").write_bytes(b"x")
    (root / "device.key").write_bytes(b"x")
    (root / "elsewhere").symlink_to(tmp_path)
    root.chmod(0o755)
    (root / "segments").chmod(0o775)
    (root / "segments" / "1.seg").chmod(0o644)
    (root / "manifest.sqlite").chmod(0o666)
    (root / "run.sh").chmod(0o755)
    (root / "device.key").chmod(0o644)
    tmp_path.chmod(0o755)

    tightened = make_private(root, "spool")

    assert _mode(root) == 0o700
    assert _mode(root / "segments") == 0o700
    assert _mode(root / "segments" / "1.seg") == 0o600
    assert _mode(root / "manifest.sqlite") == 0o600
    assert _mode(root / "run.sh") == 0o700
    assert _mode(tmp_path) == 0o755, "a symbolic link's target is not ours to change"
    assert _mode(root / "device.key") == 0o644, "a loose key is refused by its reader"
    assert len(tightened) == 5
    assert make_private(root, "spool") == []


def test_a_file_in_the_way_is_refused(tmp_path: Path) -> None:
    (tmp_path / "spool").write_bytes(b"")
    with pytest.raises(NotPrivateError, match="not a directory; move it out of the way"):
        make_private(tmp_path / "spool", "spool")


@pytest.mark.skipif(os.getuid() != 0, reason="giving a file to another user needs root")
def test_something_of_another_user_is_refused_with_the_fix(tmp_path: Path) -> None:
    root = tmp_path / "data"
    root.mkdir(mode=0o700)
    planted = root / "planted"
    planted.write_bytes(b"")
    os.chown(planted, 4321, 4321)
    with pytest.raises(NotPrivateError, match=r"belongs to uid 4321.*sudo chown -R 0"):
        make_private(root, "data directory")
