"""What `callreel-agent doctor` reports: every check in the order a person would fix things.

Each check says what it found and, when something is wrong, what to do. Warnings are things
that may be fine right now (the business window is not open, the vault certificate expires
soon). The checks live per area in agent/doctor/desktop.py, agent/doctor/audio.py,
agent/doctor/vault.py and agent/doctor/files.py; the command is agent/commands/doctor.py.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from agent.doctor.audio import check_audio, check_detectors
from agent.doctor.desktop import check_display, check_window
from agent.doctor.files import check_permissions, check_spool
from agent.doctor.result import CheckResult
from agent.doctor.vault import check_vault
from agent.paths import AgentPaths
from agent.settings.fields import AgentSettings

_LABELS = {"ok": "ok", "warn": "WARN", "fail": "FAIL"}


def run_checks(
    settings: AgentSettings, paths: AgentPaths, *, policy_file: Path
) -> list[CheckResult]:
    """Every check, in the order a person would fix things; never raises for a finding."""
    results: list[CheckResult] = []
    results += check_display()
    results.append(check_window(settings))
    results += check_audio(settings)
    results += check_detectors(settings)
    results += check_vault(settings, paths)
    results += check_spool(settings, paths)
    results += check_permissions(paths, policy_file)
    return results


def format_result(result: CheckResult) -> str:
    line = f"{_LABELS[result.status]:<4}  {result.name}: {result.detail}"
    return f"{line} -> {result.fix}" if result.fix else line


def write_report(results: Sequence[CheckResult], out: TextIO, *, as_json: bool) -> int:
    """Print the results; the exit status: 1 if any check failed."""
    if as_json:
        json.dump([result.as_dict() for result in results], out, indent=2)
        out.write("\n")
    else:
        for result in results:
            out.write(format_result(result) + "\n")
    return 1 if any(result.status == "fail" for result in results) else 0
