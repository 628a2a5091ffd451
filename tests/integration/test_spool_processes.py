"""The spool across processes: a writer SIGKILLed at random moments and at every file-system
call loses nothing it acknowledged, and a second process cannot open a spool in use."""

from __future__ import annotations

import hashlib
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.spool.spool import Spool
from tests.helpers.data import REPO_ROOT


class Child:
    """The writer process and what it has promised so far (read from its stdout)."""

    def __init__(self, spool_dir: Path, seed: int, *kill_switch: str) -> None:
        self.spooled: list[str] = []
        self.acking: set[str] = set()
        self.acked: set[str] = set()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.children.spool_child",
                str(spool_dir),
                str(seed),
                *kill_switch,
            ],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            word, _, sha = line.strip().partition(" ")
            if word == "ready":
                self.ready.set()
            elif word == "spooled":
                self.spooled.append(sha)
            elif word == "acking":
                self.acking.add(sha)
            elif word == "acked":
                self.acked.add(sha)

    def wait_for_death(self) -> None:
        self.process.wait(timeout=60)
        self._reader.join(timeout=10)
        assert self.process.stdout is not None
        self.process.stdout.close()
        assert self.process.stderr is not None
        stderr = self.process.stderr.read()
        self.process.stderr.close()
        assert self.process.returncode == -signal.SIGKILL, stderr


def check_recovered(spool_dir: Path, child: Child) -> int:
    """Everything promised is there exactly once, intact; nothing partial is left."""
    with Spool(spool_dir, min_free_bytes=0) as spool:
        pending = spool.pending()
        shas = [segment.sha256 for segment in pending]
        assert len(shas) == len(set(shas)), "a segment is listed twice"
        places = [(s.recording_id, s.media_type, s.segment_index) for s in pending]
        assert len(places) == len(set(places)), "two segments claim the same place"
        # An acknowledgement in flight when the kill came may have finished or not.
        for sha in set(child.spooled) - child.acking:
            assert sha in shas, f"segment {sha} was promised by put() but lost"
        for sha in child.acked:
            assert sha not in shas, f"acknowledged segment {sha} came back"
        for segment in pending:
            data = spool.read(segment)
            assert hashlib.sha256(data).hexdigest() == segment.sha256
        on_disk = {p.name.removesuffix(".seg") for p in (spool_dir / "segments").iterdir()}
        assert on_disk == set(shas), "manifest and segment files disagree"
        assert list((spool_dir / "tmp").iterdir()) == []
        assert list((spool_dir / "quarantine").iterdir()) == []
        assert spool.recovery.missing_segments == []
        return len(shas)


@pytest.mark.slow
def test_sigkill_at_random_moments(tmp_path: Path) -> None:
    rng = random.Random()
    seed = rng.randrange(2**32)
    print(f"seed {seed}")
    spool_dir = tmp_path / "spool"
    survivors = 0
    for round_number in range(25):
        child = Child(spool_dir, seed + round_number)
        assert child.ready.wait(timeout=60), "child did not start"
        time.sleep(rng.uniform(0.0, 0.4))
        child.process.send_signal(signal.SIGKILL)
        child.wait_for_death()
        survivors = check_recovered(spool_dir, child)
    assert survivors > 0


@pytest.mark.slow
@pytest.mark.parametrize("when", ["before", "after"])
def test_sigkill_at_every_file_system_call(tmp_path: Path, when: str) -> None:
    """Kill at call 1, 2, 3... of write/fsync/replace/unlink across puts and acknowledgements."""
    spool_dir = tmp_path / "spool"
    for call in range(1, 31):
        child = Child(spool_dir, 7, str(call), when)
        child.wait_for_death()
        assert child.ready.is_set()
        check_recovered(spool_dir, child)


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Spool]:
    with Spool(tmp_path / "spool", min_free_bytes=0) as opened:
        yield opened


def test_second_process_cannot_open_the_same_spool(spool: Spool) -> None:
    code = (
        "import sys; from pathlib import Path\n"
        "from agent.spool.spool import Spool, SpoolLockedError\n"
        "try:\n    Spool(Path(sys.argv[1]))\nexcept SpoolLockedError as e:\n"
        "    print(e); sys.exit(3)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(spool.root)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 3, result.stderr
    assert "in use by another Callreel agent" in result.stdout
