"""`callreel-agent doctor`: check this machine can record, one line per finding.

Each check says what it found and, when something is wrong, what to do; the exit status is
1 if any check failed. Warnings are things that may be fine right now (the business window is
not open, the vault certificate expires soon). The checks live per area in
agent/doctor_desktop.py, agent/doctor_audio.py, agent/doctor_vault.py and agent/doctor_files.py.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from agent.doctor_audio import check_audio, check_detectors
from agent.doctor_desktop import check_display, check_window
from agent.doctor_files import check_permissions, check_spool
from agent.doctor_result import MANAGED_POLICY_FILE, CheckResult, DoctorConfig
from agent.doctor_vault import check_vault
from agent.paths import AgentPaths

__all__ = [
    "CheckResult",
    "DoctorConfig",
    "add_doctor_parser",
    "format_result",
    "run_checks",
    "run_doctor",
]

_LABELS = {"ok": "ok", "warn": "WARN", "fail": "FAIL"}


def run_checks(
    config: DoctorConfig,
    paths: AgentPaths,
    *,
    policy_file: Path = Path(MANAGED_POLICY_FILE),
) -> list[CheckResult]:
    """Every check, in the order a person would fix things; never raises for a finding."""
    results: list[CheckResult] = []
    results += check_display()
    results.append(check_window(config))
    results += check_audio(config)
    results += check_detectors(config)
    results += check_vault(config, paths)
    results += check_spool(config, paths)
    results += check_permissions(paths, policy_file)
    return results


def format_result(result: CheckResult) -> str:
    line = f"{_LABELS[result.status]:<4}  {result.name}: {result.detail}"
    return f"{line} -> {result.fix}" if result.fix else line


def add_doctor_parser(commands: Any) -> argparse.ArgumentParser:
    """Add `doctor` to `callreel-agent`'s subcommands (an argparse `_SubParsersAction`)."""
    doctor = commands.add_parser(
        "doctor",
        help="check that this machine can record, and say what to fix",
        description=(
            "Check the display, the whitelisted window, audio devices, softphone detectors,"
            " the vault, the spool and file permissions. Exit status 1 if any check fails."
        ),
    )
    doctor.add_argument("--json", action="store_true", help="print the results as JSON")
    doctor.add_argument(
        "--policy-file",
        type=Path,
        metavar="FILE",
        help="managed policy TOML to check with (default /etc/callreel/policy.toml)",
    )
    doctor.add_argument(
        "--root",
        type=Path,
        metavar="DIR",
        help="look for the agent's files under DIR (config/, data/, run/) instead of the"
        " per-user directories",
    )
    parser: argparse.ArgumentParser = doctor
    return parser


def run_doctor(
    args: argparse.Namespace,
    config: DoctorConfig | None = None,
    paths: AgentPaths | None = None,
    *,
    out: TextIO | None = None,
    policy_file: Path = Path(MANAGED_POLICY_FILE),
) -> int:
    stream = sys.stdout if out is None else out
    if paths is None:
        root: Path | None = getattr(args, "root", None)
        paths = AgentPaths.under(root) if root is not None else AgentPaths.for_user()
    results = run_checks(config or DoctorConfig(), paths, policy_file=policy_file)
    if getattr(args, "json", False):
        json.dump([result.as_dict() for result in results], stream, indent=2)
        stream.write("\n")
    else:
        for result in results:
            stream.write(format_result(result) + "\n")
    return 1 if any(result.status == "fail" for result in results) else 0


def run_doctor_command(args: argparse.Namespace) -> int:
    """`callreel-agent doctor`: check with the settings the agent itself would use."""
    # Imported here so the checks above stay usable without the settings sources.
    from agent.managed_policy import PolicyError, PolicyFile, default_managed_source  # noqa: PLC0415
    from agent.settings import load_settings  # noqa: PLC0415

    root: Path | None = args.root
    paths = AgentPaths.under(root) if root is not None else AgentPaths.for_user()
    policy: Path | None = args.policy_file
    managed = PolicyFile(policy) if policy is not None else default_managed_source()
    try:
        values = load_settings(paths.user_settings_file, managed).values
    except PolicyError as exc:
        print(f"FAIL  settings: {exc}", file=sys.stderr)
        return 1
    config = DoctorConfig(
        **{field.name: getattr(values, field.name) for field in dataclasses.fields(DoctorConfig)}
    )
    return run_doctor(args, config, paths, policy_file=policy or Path(MANAGED_POLICY_FILE))
