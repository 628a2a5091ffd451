"""`callreel-vault fleet-token create|list|revoke|pending`: fleet enrolment for administrators
on the vault's machine (the console and the API offer the same)."""

from __future__ import annotations

import argparse
import sys
import uuid
from datetime import timedelta
from pathlib import Path

from protocol.atomic_files import atomic_output
from vault import fleet_enrolment
from vault.admin_commands import OPERATOR, add_location_options
from vault.db.engine import DatabaseError, utc_now
from vault.errors import VaultError
from vault.server import locations


def add_fleet_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    fleet = commands.add_parser(
        "fleet-token",
        help="tokens in IT's policy that enrol many machines (docs/deploy.md)",
    ).add_subparsers(dest="fleet_command", required=True, metavar="ACTION")
    create = fleet.add_parser(
        "create",
        help="make a fleet enrolment token for one team",
        description="Each machine and OS user that presents it enrols once as the agent its"
        " login names (without the domain, ignoring case), if that agent is in TEAM.",
    )
    add_location_options(create)
    create.add_argument("--team", required=True, help="the agents' team")
    create.add_argument("--uses", type=int, required=True, help="enrolments it allows")
    create.add_argument("--days", type=int, default=30, help="how long it works (default 30)")
    create.add_argument(
        "--create-agents",
        action="store_true",
        help="make an agent account in TEAM for an unknown login instead of refusing it",
    )
    create.add_argument("--label", default="", help="what it is for, e.g. 'Leeds floor 2'")
    create.add_argument(
        "--out", type=Path, metavar="FILE", help="write the token to FILE (mode 0600)"
    )
    listed = fleet.add_parser("list", help="every fleet token, its team, uses and expiry")
    add_location_options(listed)
    revoke = fleet.add_parser("revoke", help="stop a fleet token enrolling more machines")
    add_location_options(revoke)
    revoke.add_argument("token_id", type=uuid.UUID, metavar="ID", help="as `list` shows it")
    pending = fleet.add_parser(
        "pending", help="logins a fleet token refused for want of an agent account"
    )
    add_location_options(pending)


def run_fleet(args: argparse.Namespace) -> int | None:
    if args.command != "fleet-token":
        return None
    try:
        return _run(args)
    except (VaultError, DatabaseError) as exc:
        print(f"callreel-vault: {exc}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    engine = locations(args.data, args.db, args.store).open_database()
    if args.fleet_command == "create":
        token, made = fleet_enrolment.create_fleet_token(
            engine,
            team=args.team,
            max_uses=args.uses,
            valid_for=timedelta(days=args.days),
            creates_agents=args.create_agents,
            label=args.label,
            by=OPERATOR,
            now=utc_now(),
        )
        what = f"fleet token {made.id} for team {made.team}: {made.max_uses} enrolments until"
        what += f" {made.expires_at:%Y-%m-%d %H:%M} UTC"
        if args.out is None:
            print(token)
            print(what, file=sys.stderr)
        else:
            with atomic_output(args.out, mode=0o600) as handle:
                handle.write(token.encode() + b"\n")
            print(f"{what}; written to {args.out}")
        return 0
    if args.fleet_command == "list":
        now = utc_now()
        for fleet in fleet_enrolment.list_fleet_tokens(engine):
            refusal = fleet.refusal(now)
            state = "usable" if refusal is None else refusal.split(";")[0]
            print(
                f"{fleet.id}  team {fleet.team}  {fleet.uses}/{fleet.max_uses} used"
                f"  expires {fleet.expires_at:%Y-%m-%d %H:%M} UTC  ({state})"
                f"{'  creates agents' if fleet.creates_agents else ''}  {fleet.label}"
            )
        return 0
    if args.fleet_command == "revoke":
        fleet_enrolment.revoke_fleet_token(engine, args.token_id, by=OPERATOR, now=utc_now())
        print(f"fleet token {args.token_id} revoked; machines it enrolled keep working")
        return 0
    for pending in fleet_enrolment.pending_enrolments(engine):
        print(
            f"{pending.account}  (login {pending.login} on {pending.hostname}, team"
            f" {pending.team}, {pending.attempts} tries, last {pending.last_at:%Y-%m-%d %H:%M}"
            f" UTC): add it with callreel-vault user add --role agent --team"
            f" '{pending.team}' {pending.account}"
        )
    return 0
