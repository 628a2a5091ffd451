"""`callreel-agent run`: the tray agent (the composition root, agent/app.py, loads Qt)."""

from __future__ import annotations

import argparse
from pathlib import Path

from agent.settings.managed_policy import DEFAULT_POLICY_FILE


def add_run_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = commands.add_parser(
        "run",
        help="start the tray agent",
        description="Start the Callreel tray agent. With no vault_url in the managed policy it"
        " starts a local vault of its own (the embedded default) and enrols against it.",
    )
    run.add_argument(
        "--root",
        type=Path,
        metavar="DIR",
        help="keep settings, enrolment, spool and runtime files under DIR (tests, demos)",
    )
    run.add_argument(
        "--policy-file",
        type=Path,
        metavar="FILE",
        help=f"managed policy TOML (default {DEFAULT_POLICY_FILE}); it must be owned by"
        " root and not writable by others, like the default",
    )
    run.add_argument("--open-window", action="store_true", help="open the agent's window at start")


def run_command(args: argparse.Namespace) -> int:
    from agent.app import run_agent  # noqa: PLC0415 - Qt loads only for the tray agent

    return run_agent(args)
