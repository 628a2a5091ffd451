"""What `callreel-agent run` does until the tray agent lands: check the spool, say the plan."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import platformdirs

from agent.session import CallPolicy, RecordingStateMachine
from agent.spool import Spool, SpoolError


def default_spool_dir() -> Path:
    return Path(platformdirs.user_data_dir("callreel", appauthor=False)) / "spool"


def describe_run(spool_dir: Path | None) -> int:
    spool_path = spool_dir or default_spool_dir()
    try:
        with Spool(spool_path) as spool:
            status = spool.status()
            recovery = spool.recovery
    except SpoolError as exc:
        print(f"callreel-agent: {exc}", file=sys.stderr)
        return 1
    print("Callreel agent (foundation build)")
    print(f"  spool: {spool_path}")
    print(
        f"  waiting for the vault: {status.pending_segments} segments,"
        f" {status.pending_bytes} of {status.max_bytes} bytes"
    )
    if not recovery.clean:
        print(f"  recovered after an unclean stop: {recovery}")
    machine = RecordingStateMachine(CallPolicy(), clock=time.time)
    print(
        f"  recording state: {machine.state.value} (no training session has been received,"
        " so nothing is recorded: R1)"
    )
    print(
        "  when a trainer starts a session and the softphone goes off-hook, the agent will show"
        " the notice, record only the whitelisted window and the call audio after the lead"
        " time, seal each segment to the vault key and spool it here."
    )
    print("  the tray agent, capture and vault client arrive with the next issues.")
    return 0
