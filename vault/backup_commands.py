"""`callreel-vault backup` and `callreel-vault restore` (vault/backup.py), on the vault machine."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from pathlib import Path

from protocol.keys import KeyFileError, VaultIdentity, VaultRecipient
from vault import backup, backup_secrets
from vault.admin_commands import add_location_options
from vault.db.engine import DatabaseError
from vault.errors import VaultError
from vault.server import locations
from vault.storage.base import SegmentStoreError


def add_backup_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    made = commands.add_parser(
        "backup",
        help="write a consistent backup of a vault, also while it serves",
        description="Database rows (one snapshot), the disk store's segments (with S3, the"
        " bucket's location), the access log's checkpoints, and the vault's identity and TLS"
        " keys sealed to a passphrase or a backup key pair (docs/vault.md, Backup).",
    )
    add_location_options(made)
    made.add_argument("--out", type=Path, required=True, metavar="FILE")
    sealing = made.add_mutually_exclusive_group(required=True)
    sealing.add_argument(
        "--passphrase-stdin",
        action="store_true",
        help="seal the keys to a passphrase read from standard input",
    )
    sealing.add_argument(
        "--to",
        type=Path,
        metavar="RECIPIENT_FILE",
        help="seal the keys to a backup key pair's .pub (callreel-vault keygen)",
    )

    restored = commands.add_parser(
        "restore",
        help="bring a vault back from a backup into an empty data directory and database",
    )
    add_location_options(restored)
    restored.add_argument("--from", dest="archive", type=Path, required=True, metavar="FILE")
    opening = restored.add_mutually_exclusive_group(required=True)
    opening.add_argument("--passphrase-stdin", action="store_true")
    opening.add_argument("--backup-identity", type=Path, metavar="FILE",
                         help="the backup key pair's identity file")  # fmt: skip


def _passphrase() -> str:
    if sys.stdin.isatty():
        return getpass.getpass("backup passphrase: ")
    return sys.stdin.readline().rstrip("\n")


def _sealer(args: argparse.Namespace) -> Callable[[bytes], bytes]:
    if args.passphrase_stdin:
        passphrase = _passphrase()
        return lambda secrets: backup_secrets.seal_to_passphrase(secrets, passphrase)
    recipient = VaultRecipient.load(args.to)
    return lambda secrets: backup_secrets.seal_to_recipient(secrets, recipient)


def _opener(args: argparse.Namespace) -> Callable[[bytes], bytes]:
    if args.passphrase_stdin:
        passphrase = _passphrase()
        return lambda blob: backup_secrets.open_sealed(blob, passphrase=passphrase)
    identity = VaultIdentity.load(args.backup_identity)
    return lambda blob: backup_secrets.open_sealed(blob, identity=identity)


def _progress(line: str) -> None:
    print(f"  {line}", file=sys.stderr, flush=True)


def run_backup(args: argparse.Namespace) -> int | None:
    if args.command not in ("backup", "restore"):
        return None
    where = locations(args.data, args.db, args.store)
    try:
        if args.command == "backup":
            report = backup.make_backup(where, args.out, _sealer(args), progress=_progress)
            print(
                f"backup written to {args.out}: {sum(report.rows.values())} rows,"
                f" {report.segments_copied} segments, segments in {report.store}"
            )
        else:
            report = backup.restore_backup(args.archive, where, _opener(args), progress=_progress)
            print(
                f"vault restored into {where.data}: {sum(report.rows.values())} rows,"
                f" {report.segments_copied} segments; check it with `callreel-vault audit"
                " verify`, then serve it"
            )
    except (VaultError, DatabaseError, SegmentStoreError, KeyFileError, ValueError) as exc:
        print(f"callreel-vault: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"callreel-vault: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0
