"""`callreel-vault` commands that run on the vault machine against its data directory: serve,
user add/disable/enable, token create/list/revoke, enroll-token, audit verify, retention run.
Every change to people, tokens and devices is logged with the operator's OS account."""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import timedelta
from pathlib import Path

from protocol.api.staff import AuditDetails
from protocol.atomic_files import atomic_output
from protocol.keys import KeyFileError, VaultIdentity
from vault import accounts, audit_checkpoints, audit_log, devices, retention, sign_in_links
from vault.api.serving_limits import add_limit_options, limits_from_options
from vault.db.engine import DatabaseError, connect, shown_url, utc_now
from vault.db.migrate import upgrade
from vault.db.opening import open_database
from vault.errors import Conflict, VaultError
from vault.key_rotation import IDENTITY_FILE, retired_identities, rotate
from vault.server import (
    CHECKPOINT_FILE,
    VaultLocations,
    locations,
    open_vault,
    serve,
)
from vault.storage.base import SegmentStoreError

SYSTEM_ACTOR = "system:retention"
OPERATOR = f"operator:{getpass.getuser()}"
"""Who the access log names for changes made on the vault machine: its OS account."""


def add_location_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        type=Path,
        required=True,
        metavar="DIR",
        help="vault data directory (identity, certificate, default storage)",
    )
    parser.add_argument(
        "--db",
        metavar="URL",
        help="metadata database (default sqlite:///DIR/vault.db;"
        " or postgresql://USER@HOST:PORT/DB)",
    )
    parser.add_argument(
        "--store",
        metavar="URL",
        help="segment storage (default DIR/segments; or s3://BUCKET/PREFIX with"
        " AWS_* credentials and AWS_ENDPOINT_URL in the environment)",
    )


def _add_sign_in_link_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    link = commands.add_parser(
        "sign-in-link",
        help="print a one-time console sign-in link for a user (10 minutes, once)",
    )
    add_location_options(link)
    link.add_argument("username")
    link.add_argument(
        "--url", default="", help="the vault's address, to print the whole link (else its path)"
    )


def add_admin_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve_parser = commands.add_parser("serve", help="run the vault over HTTPS")
    add_location_options(serve_parser)
    serve_parser.add_argument("--host", default="127.0.0.1")
    serve_parser.add_argument("--port", type=int, default=8443)
    serve_parser.add_argument(
        "--hostname",
        action="append",
        default=[],
        metavar="NAME",
        help="extra name for the generated certificate (repeatable)",
    )
    serve_parser.add_argument(
        "--ready-file",
        type=Path,
        metavar="FILE",
        help="once serving, write the URL (with the real port, also for --port 0) and the"
        " certificate to pin to FILE as JSON",
    )
    add_limit_options(serve_parser)

    migrate = commands.add_parser(
        "migrate",
        help="upgrade the vault database to this release's schema",
        description="Apply the schema migrations this release has and the database lacks."
        " Vault processes refuse a database behind their release, so run this once after an"
        " upgrade (it is safe to run again, and while other vaults refuse the database).",
    )
    add_location_options(migrate)

    user = commands.add_parser("user", help="manage people").add_subparsers(
        dest="user_command", required=True, metavar="ACTION"
    )
    add = user.add_parser("add", help="add a user with roles")
    add_location_options(add)
    add.add_argument("username")
    add.add_argument(
        "--role",
        action="append",
        required=True,
        help="agent, trainer, reviewer, authoriser, administrator or auditor (repeatable)",
    )
    add.add_argument("--team")
    add.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from standard input (else prompt on a terminal; agents need none)",
    )
    add.add_argument(
        "--exist-ok",
        action="store_true",
        help="succeed without changing anything if the user already exists",
    )

    for action, text in (
        ("disable", "disable a user: every token ends at once, their devices are refused"),
        ("enable", "enable a disabled user again (they sign in anew)"),
    ):
        toggle = user.add_parser(action, help=text)
        add_location_options(toggle)
        toggle.add_argument("username")

    token = commands.add_parser("token", help="command-line tokens").add_subparsers(
        dest="token_command", required=True, metavar="ACTION"
    )
    create = token.add_parser("create", help="print a new command-line token for a user")
    add_location_options(create)
    create.add_argument("username")
    create.add_argument("--days", type=int, default=90)
    create.add_argument("--label", default="cli", help="what the token is for, in token lists")
    create.add_argument(
        "--out",
        type=Path,
        metavar="FILE",
        help="write the token to FILE (mode 0600) instead of printing it",
    )

    listed = token.add_parser("list", help="a user's unexpired tokens, by id")
    add_location_options(listed)
    listed.add_argument("username")
    revoke = token.add_parser("revoke", help="end one of a user's tokens at once")
    add_location_options(revoke)
    revoke.add_argument("username")
    revoke.add_argument("token_id", metavar="TOKEN_ID", help="as `token list` shows it")

    _add_sign_in_link_parser(commands)
    enrol = commands.add_parser("enroll-token", help="print a one-time agent enrolment token")
    add_location_options(enrol)
    enrol.add_argument("--agent", required=True, help="the agent user the machine records")

    key = commands.add_parser("key", help="the vault's key").add_subparsers(
        dest="key_command", required=True, metavar="ACTION"
    )
    rotate = key.add_parser(
        "rotate",
        help="seal new recordings to a new key; older ones still open with the retired one",
        description="Retires the vault's identity into DIR/retired-keys/ and makes a new one."
        " Restart every vault process that uses DIR; agents learn the new key at their next"
        " heartbeat. Back up afterwards: the backup carries the retired keys too.",
    )
    add_location_options(rotate)

    audit = commands.add_parser("audit", help="the access log").add_subparsers(
        dest="audit_command", required=True, metavar="ACTION"
    )
    verify = audit.add_parser("verify", help="check the hash chain of the access log")
    verify.add_argument("--db", metavar="URL")
    verify.add_argument("--data", type=Path, metavar="DIR")
    verify.add_argument(
        "--expect-head",
        metavar="HASH",
        help="the last record hash you noted earlier: detects records cut off",
    )
    verify.add_argument(
        "--checkpoints",
        type=Path,
        metavar="FILE",
        help="signed checkpoints to check against (default DIR/audit-checkpoints.jsonl; e.g."
        " the lines copied to the bucket's audit-checkpoints/ prefix, concatenated)",
    )

    retention_parser = commands.add_parser("retention", help="retention").add_subparsers(
        dest="retention_command", required=True, metavar="ACTION"
    )
    run = retention_parser.add_parser("run", help="crypto-shred recordings past their delete date")
    add_location_options(run)


def _fail(message: str) -> int:
    print(f"callreel-vault: {message}", file=sys.stderr)
    return 1


def _password(args: argparse.Namespace) -> str | None:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    if sys.stdin.isatty():
        first = getpass.getpass(f"password for {args.username} (empty for none): ")
        if first and first != getpass.getpass("again: "):
            raise VaultError("the two passwords differ")
        return first or None
    return None


def _migrate(where: VaultLocations) -> int:
    engine = connect(where.db_url)
    try:
        before, after = upgrade(engine)
    finally:
        engine.dispose()
    shown = shown_url(engine)
    if before == after:
        print(f"vault database {shown}: already at schema revision {after}")
    else:
        print(f"vault database {shown}: upgraded from {before or 'empty'} to revision {after}")
    return 0


def run_admin(args: argparse.Namespace) -> int | None:
    """Run the command if it is one of these; None otherwise."""
    try:
        return _dispatch(args)
    except (VaultError, DatabaseError, SegmentStoreError) as exc:
        return _fail(str(exc))
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        return _fail(f"cannot use{where}: {exc.strerror or exc}")


def _rotate_key(where: VaultLocations) -> int:
    engine = where.open_database()
    try:
        retired, new = rotate(where.data)
        audit_log.append(
            engine,
            at=utc_now(),
            actor=OPERATOR,
            action="key-rotate",
            subject=new.recipient.key_id.hex(),
            details=AuditDetails(label=f"retired {retired.recipient.key_id.hex()}"),
        )
    finally:
        engine.dispose()
    print(
        f"vault key {retired.recipient.key_id.hex()} retired (kept in {where.data}/retired-keys);"
        f" new recordings are sealed to {new.recipient.key_id.hex()}. Restart every vault"
        " process using this data directory; agents learn the new key at their next heartbeat."
    )
    return 0


def _verify_audit(args: argparse.Namespace) -> int:
    checkpoints: list[audit_checkpoints.Checkpoint] = []
    if args.data is not None:
        path = args.checkpoints or args.data / CHECKPOINT_FILE
        try:
            identities = [
                VaultIdentity.load(args.data / IDENTITY_FILE),
                *retired_identities(args.data).values(),
            ]
            checkpoints = audit_checkpoints.read_file(path, identities)
        except KeyFileError as exc:
            return _fail(f"cannot check the signed checkpoints: {exc}")
        except audit_checkpoints.CheckpointFileError as exc:
            return _fail(f"{path}: {exc}")
    elif args.checkpoints is not None:
        return _fail("--checkpoints needs --data DIR: the vault's key checks their signatures")
    engine = open_database(args.db or locations(args.data).db_url)
    try:
        count, broken, head = audit_log.verify(engine, args.expect_head, checkpoints)
    finally:
        engine.dispose()
    if broken is not None:
        return _fail(f"{broken.describe()} ({count} records read)")
    print(f"access log intact: {count} records, head {head or '(empty log)'}")
    if checkpoints:
        print(
            f"matches {len(checkpoints)} signed checkpoints, the last covering records up to"
            f" {checkpoints[-1].end - 1} ({checkpoints[-1].at})"
        )
    else:
        print(
            "no signed checkpoints to check against: records removed from the end, or rewritten"
            " with their hashes, would not show (give --data DIR)"
        )
    return 0


def _dispatch(args: argparse.Namespace) -> int | None:
    command = args.command
    if command == "serve":
        serve(
            locations(args.data, args.db, args.store),
            args.host,
            args.port,
            hostnames=args.hostname,
            limits=limits_from_options(args),
            ready_file=args.ready_file,
        )
        return 0
    if command == "audit":
        if args.db is None and args.data is None:
            return _fail("give --data DIR or --db URL")
        return _verify_audit(args)
    if command == "key":
        return _rotate_key(locations(args.data, args.db, args.store))
    if command not in ("migrate", "user", "token", "enroll-token", "retention", "sign-in-link"):
        return None
    where = locations(args.data, args.db, args.store)
    if command == "migrate":
        return _migrate(where)
    if command == "user" and args.user_command in ("disable", "enable"):
        disabling = args.user_command == "disable"
        ended = accounts.set_disabled(
            where.open_database(), args.username, disabling, now=utc_now(), by=OPERATOR
        )
        print(
            f"user {args.username} disabled; {ended} tokens ended"
            if disabling
            else f"user {args.username} enabled"
        )
        return 0
    if command == "user":
        engine = where.open_database()
        roles = accounts.parse_roles(",".join(args.role))
        try:
            accounts.add_user(
                engine,
                args.username,
                roles,
                now=utc_now(),
                password=_password(args),
                team=args.team,
                by=OPERATOR,
            )
        except Conflict:
            if not args.exist_ok:
                raise
            print(f"user {args.username} already exists; left as it is")
            return 0
        print(f"user {args.username} added with roles {', '.join(sorted(roles))}")
        return 0
    what = getattr(args, "token_command", None)
    if command == "token" and what == "list":
        for info in accounts.tokens_of(where.open_database(), args.username, now=utc_now()):
            print(
                f"{info.id}  {info.label:<12}  created {info.created_at:%Y-%m-%d %H:%M}"
                f"  expires {info.expires_at:%Y-%m-%d %H:%M} UTC"
            )
        return 0
    if command == "token" and what == "revoke":
        accounts.revoke_token(
            where.open_database(), args.username, args.token_id, now=utc_now(), by=OPERATOR
        )
        print(f"token {args.token_id} of {args.username} revoked")
        return 0
    if command == "token":
        engine = where.open_database()
        token = accounts.issue_token(
            engine,
            args.username,
            now=utc_now(),
            label=args.label,
            lifetime=timedelta(days=args.days),
            by=OPERATOR,
        )
        if args.out is None:
            print(token)
            return 0
        with atomic_output(args.out, mode=0o600) as handle:
            handle.write(token.encode() + b"\n")
        print(f"token for {args.username} written to {args.out}")
        return 0
    if command == "sign-in-link":
        code = sign_in_links.issue(where.open_database(), args.username, now=utc_now(), by=OPERATOR)
        print(f"{args.url.rstrip('/')}{sign_in_links.PATH}{code}")
        return 0
    if command == "enroll-token":
        engine = where.open_database()
        print(devices.issue_enrol_token(engine, args.agent, by=OPERATOR, now=utc_now()))
        return 0
    if command == "retention":
        report = retention.run(open_vault(where), actor=SYSTEM_ACTOR)
        print(
            f"retention: {len(report.shredded)} recordings crypto-shredded,"
            f" {len(report.held)} kept under legal hold,"
            f" {report.segments_left} segments still under Object Lock"
        )
        return 0
    return None
