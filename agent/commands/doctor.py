"""`callreel-agent doctor`: check this machine can record, one line per finding (exit 1 if any
check fails), with the settings the agent itself would run with."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from agent.doctor.report import run_checks, write_report
from agent.paths import AgentPaths
from agent.settings.fields import AgentSettings
from agent.settings.layers import load_settings
from agent.settings.managed_policy import (
    DEFAULT_POLICY_FILE,
    PolicyError,
    PolicyFile,
    default_managed_source,
)


def add_doctor_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
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
        help=f"managed policy TOML to check with (default {DEFAULT_POLICY_FILE})",
    )
    doctor.add_argument(
        "--root",
        type=Path,
        metavar="DIR",
        help="look for the agent's files under DIR (config/, data/, run/) instead of the"
        " per-user directories",
    )
    return doctor


def run_doctor(
    args: argparse.Namespace,
    settings: AgentSettings | None = None,
    paths: AgentPaths | None = None,
    *,
    out: TextIO | None = None,
    policy_file: Path = DEFAULT_POLICY_FILE,
) -> int:
    """Check with `settings` (the defaults if None) and print the report."""
    if paths is None:
        paths = AgentPaths.at(getattr(args, "root", None))
    results = run_checks(settings or AgentSettings(), paths, policy_file=policy_file)
    return write_report(
        results, sys.stdout if out is None else out, as_json=getattr(args, "json", False)
    )


def run_command(args: argparse.Namespace) -> int:
    paths = AgentPaths.at(args.root)
    policy: Path | None = args.policy_file
    managed = PolicyFile(policy) if policy is not None else default_managed_source()
    try:
        settings = load_settings(paths.user_settings_file, managed).values
    except PolicyError as exc:
        print(f"FAIL  settings: {exc}", file=sys.stderr)
        return 1
    return run_doctor(args, settings, paths, policy_file=policy or DEFAULT_POLICY_FILE)
