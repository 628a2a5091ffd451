"""`callreel-agent enrol`: enrol this user with a vault, with IT's one-time token, or with the
fleet token and vault that managed policy names (what `run` also does at first start)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from agent.paths import AgentPaths
from agent.settings.layers import PolicyError, load_settings
from agent.settings.managed_policy import PolicyFile, default_managed_source
from agent.vault_connection.enrolment import (
    Enrolment,
    EnrolmentError,
    enrol_device,
    enrol_from_policy,
)


def add_enrol_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    enrol = commands.add_parser(
        "enrol",
        help="enrol this machine with a vault",
        description="Make this user's device key on this machine and register it with the"
        " vault. With --vault, --ca and --token-file: a one-time token from `callreel-vault"
        " enroll-token`, read from a file or standard input, never from the command line,"
        " where other users could see it. Without them: the vault_url, vault_ca_file and"
        " enrolment_token of managed policy, as the agent does at its first start.",
    )
    enrol.add_argument("--vault", metavar="URL", help="https://vault:8443")
    enrol.add_argument("--ca", type=Path, metavar="FILE", help="the vault's certificate to pin")
    enrol.add_argument(
        "--token-file", metavar="FILE", help="file holding the enrolment token, or - for stdin"
    )
    enrol.add_argument(
        "--policy-file",
        type=Path,
        metavar="FILE",
        help="managed policy TOML to enrol from (root's; default: this system's policy)",
    )
    enrol.add_argument("--root", type=Path, metavar="DIR", help="as for callreel-agent run")


def _read_token(source: str) -> str:
    token = sys.stdin.readline() if source == "-" else Path(source).read_text()
    if not token.strip():
        raise EnrolmentError(f"no enrolment token in {source}")
    return token


def _enrol(args: argparse.Namespace, paths: AgentPaths) -> Enrolment:
    given = [args.vault, args.ca, args.token_file]
    if any(value is not None for value in given) and None in given:
        raise EnrolmentError("give all of --vault, --ca and --token-file, or none (policy)")
    # Policy applies either way: its proxy and the vault keys it trusts.
    managed = PolicyFile(args.policy_file) if args.policy_file else default_managed_source()
    settings = load_settings(paths.user_settings_file, managed).values
    if args.vault is not None:
        return enrol_device(
            paths,
            args.vault,
            args.ca,
            _read_token(args.token_file),
            policy_pins=settings.vault_tls_pins,
            proxy_setting=settings.vault_proxy,
        )
    if not settings.vault_url:
        raise EnrolmentError(
            f"{managed.describe()} names no vault_url; give --vault, --ca and --token-file"
        )
    return enrol_from_policy(paths, settings)


def run_command(args: argparse.Namespace) -> int:
    paths = AgentPaths.at(args.root)
    try:
        enrolment = _enrol(args, paths)
    except (EnrolmentError, PolicyError, OSError) as exc:
        print(f"callreel-agent enrol: {exc}", file=sys.stderr)
        return 1
    print(
        f"enrolled as device {enrolment.device_id} recording agent {enrolment.agent}"
        f" with {enrolment.vault_url}"
    )
    return 0
