"""`callreel-agent run`, the quickstart command: reports the spool and records nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from agent.spool import Spool

AGENT = Path(sys.executable).parent / "callreel-agent"


def run_agent(spool: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(AGENT), "run", "--spool", str(spool)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_run_opens_the_spool_and_records_nothing_without_a_session(tmp_path: Path) -> None:
    result = run_agent(tmp_path / "spool")
    assert result.returncode == 0, result.stderr
    assert "recording state: no_session" in result.stdout
    assert "0 segments" in result.stdout
    assert (tmp_path / "spool" / "manifest.sqlite").exists()


def test_run_refuses_a_spool_another_agent_holds(tmp_path: Path) -> None:
    with Spool(tmp_path / "spool"):
        result = run_agent(tmp_path / "spool")
    assert result.returncode == 1
    assert "in use by another Callreel agent process" in result.stderr
