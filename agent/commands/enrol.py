"""`callreel-agent enrol`: enrol this machine with a vault using IT's one-time token."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from agent.paths import AgentPaths
from agent.vault_connection.enrolment import EnrolmentError, enrol_device


def add_enrol_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    enrol = commands.add_parser(
        "enrol",
        help="enrol this machine with a vault",
        description="Make this machine's device key and register it with the vault, using a"
        " one-time token from `callreel-vault enroll-token`. The token is read from a file or"
        " standard input, never from the command line, where other users could see it.",
    )
    enrol.add_argument("--vault", required=True, metavar="URL", help="https://vault:8443")
    enrol.add_argument(
        "--ca", required=True, type=Path, metavar="FILE", help="the vault's certificate to pin"
    )
    enrol.add_argument(
        "--token-file",
        required=True,
        metavar="FILE",
        help="file holding the enrolment token, or - for standard input",
    )
    enrol.add_argument("--root", type=Path, metavar="DIR", help="as for callreel-agent run")


def _read_token(source: str) -> str:
    token = sys.stdin.readline() if source == "-" else Path(source).read_text()
    if not token.strip():
        raise EnrolmentError(f"no enrolment token in {source}")
    return token


def run_command(args: argparse.Namespace) -> int:
    paths = AgentPaths.at(args.root)
    try:
        enrolment = enrol_device(paths, args.vault, args.ca, _read_token(args.token_file))
    except (EnrolmentError, OSError) as exc:
        print(f"callreel-agent enrol: {exc}", file=sys.stderr)
        return 1
    print(
        f"enrolled as device {enrolment.device_id} recording agent {enrolment.agent}"
        f" with {enrolment.vault_url}"
    )
    return 0
