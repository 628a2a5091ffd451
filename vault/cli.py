"""`callreel-vault`: the vault's command line."""

from __future__ import annotations

import argparse
import sys
import uuid
from pathlib import Path

from protocol.atomic_files import atomic_output
from protocol.keys import KeyFileError, VaultIdentity, write_key_pair
from protocol.segments.format import SegmentError
from protocol.segments.unseal import open_segment_stream
from protocol.version import VERSION
from vault.admin_commands import add_admin_parsers, run_admin
from vault.assemble_command import add_assemble_parser, run_assemble
from vault.backup_commands import add_backup_parsers, run_backup
from vault.fleet_commands import add_fleet_parser, run_fleet
from vault.remote_commands import add_remote_parsers, run_remote
from vault.tls_commands import add_tls_parser, run_tls
from vault.verify_export_command import add_verify_export_parser, run_verify_export

PROG = "callreel-vault"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Callreel vault.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {VERSION}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    keygen = commands.add_parser(
        "keygen",
        help="create the vault key pair",
        description="Write vault-identity.key (private, mode 0600) and vault-recipient.pub"
        " (give it to agents) into DIR.",
    )
    keygen.add_argument("--out", type=Path, required=True, metavar="DIR")

    unseal = commands.add_parser(
        "unseal",
        help="decrypt and verify one sealed segment",
        description="Open IN with the vault identity; OUT is written only if every check passes.",
    )
    unseal.add_argument("--identity", type=Path, required=True, help="vault identity key file")
    unseal.add_argument(
        "--expect-recording", type=uuid.UUID, metavar="UUID", help="refuse other recordings"
    )
    unseal.add_argument("--expect-segment", type=int, metavar="N", help="refuse other positions")
    unseal.add_argument("input", type=Path, metavar="IN")
    unseal.add_argument("output", type=Path, metavar="OUT")
    add_assemble_parser(commands)
    add_admin_parsers(commands)
    add_backup_parsers(commands)
    add_fleet_parser(commands)
    add_remote_parsers(commands)
    add_tls_parser(commands)
    add_verify_export_parser(commands)
    return parser


def _fail(message: str) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return 1


def _keygen(args: argparse.Namespace) -> int:
    identity = VaultIdentity.generate()
    try:
        identity_path, recipient_path = write_key_pair(identity, args.out)
    except (KeyFileError, OSError) as exc:
        return _fail(str(exc))
    print(f"vault key id {identity.recipient.key_id.hex()}")
    print(f"identity (keep secret, back it up): {identity_path}")
    print(f"recipient (give to agents): {recipient_path}")
    return 0


def _unseal(args: argparse.Namespace) -> int:
    try:
        identity = VaultIdentity.load(args.identity)
    except KeyFileError as exc:
        return _fail(str(exc))
    try:
        with args.input.open("rb") as source, atomic_output(args.output) as sink:
            header = open_segment_stream(
                identity,
                source,
                sink,
                expect_recording=args.expect_recording,
                expect_index=args.expect_segment,
            )
    except SegmentError as exc:
        return _fail(f"cannot unseal {args.input}: {exc}")
    except OSError as exc:
        return _fail(f"cannot unseal {args.input} to {args.output}: {exc.strerror or exc}")
    print(
        f"recording {header.recording_id} segment {header.segment_index}"
        f" ({header.media_type.label}) verified: {args.output}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "keygen":
        return _keygen(args)
    if args.command == "verify-export":
        return run_verify_export(args)
    if args.command == "assemble":
        return run_assemble(args)
    if args.command == "unseal":
        return _unseal(args)
    for runner in (run_admin, run_backup, run_remote, run_fleet, run_tls):
        result = runner(args)
        if result is not None:
            return result
    raise AssertionError(f"unhandled command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
