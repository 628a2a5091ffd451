"""`callreel-vault verify-export FILE`: check a signed export of the access or release log
(vault/signed_exports.py) against this vault's signing keys, or against the key recorded when
it was exported, on a machine with no vault."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from protocol.keys import KeyFileError, VaultIdentity
from vault.key_rotation import IDENTITY_FILE, retired_identities
from vault.signed_exports import MAX_EXPORT_BYTES, ExportError, public_key_text, verify_export

PROG = "callreel-vault verify-export"


def add_verify_export_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "verify-export",
        help="check a signed export of the access or release log",
        description="Check that FILE was signed by this vault (--data) or by a key you recorded"
        " (--public-key, shown on the console's access log page), and was not changed since.",
    )
    parser.add_argument("file", type=Path, metavar="FILE")
    parser.add_argument("--data", type=Path, metavar="DIR", help="the vault's data directory")
    parser.add_argument(
        "--public-key", action="append", default=[], metavar="KEY", help="a trusted signing key"
    )


def run_verify_export(args: argparse.Namespace) -> int:
    trusted = list(args.public_key)
    if args.data is not None:
        try:
            current = VaultIdentity.load(args.data / IDENTITY_FILE)
        except (OSError, KeyFileError) as exc:
            print(f"{PROG}: no vault identity in {args.data}: {exc}", file=sys.stderr)
            return 2
        retired = retired_identities(args.data).values()
        trusted += [public_key_text(i) for i in (current, *retired)]
    if not trusted:
        print(f"{PROG}: give --data DIR (on the vault) or --public-key KEY", file=sys.stderr)
        return 2
    try:
        with args.file.open("rb") as source:
            data = source.read(MAX_EXPORT_BYTES + 1)
        content = verify_export(data, trusted)
    except OSError as exc:
        print(f"{PROG}: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 1
    except ExportError as exc:
        print(f"{PROG}: {args.file}: NOT verified: {exc}", file=sys.stderr)
        return 1
    rows = content.get("records", content.get("releases", []))
    print(
        f"{args.file}: verified: {content.get('kind')} exported {content.get('exported_at')}"
        f" by {content.get('exported_by')}, {len(rows)} entries, unchanged since"
    )
    return 0
