"""`callreel-vault tls status|prepare-rotation|rotate`: changing the vault's TLS key without
re-enrolling agents (vault/tls_rotation.py; docs/deploy.md, "Rotating the vault's TLS key")."""

from __future__ import annotations

import argparse
import datetime
import sys

from protocol.api.staff import AuditDetails, DeviceHealth
from protocol.pinned_tls import TlsCertificateError
from vault import audit_log, devices, tls_rotation
from vault.admin_commands import OPERATOR, add_location_options
from vault.db.engine import DatabaseError, utc_now
from vault.errors import VaultError
from vault.server import TLS_DIRECTORY, VaultLocations, locations
from vault.tls import BACKDATE, TlsFiles
from vault.tls_rotation import TlsPair

SHOWN_DEVICES = 20


def add_tls_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tls = commands.add_parser(
        "tls", help="the vault's TLS key: announce the next one, then switch to it"
    ).add_subparsers(dest="tls_command", required=True, metavar="ACTION")
    status = tls.add_parser(
        "status", help="the current and next TLS key's pins, and devices yet to learn the next"
    )
    add_location_options(status)
    prepare = tls.add_parser(
        "prepare-rotation",
        help="make the next TLS key; heartbeats announce it to agents from now on",
        description="Writes the next key and a certificate for the same names into DIR/tls/."
        " Every agent that sends a heartbeat from now on trusts it; run `tls rotate` once"
        " `tls status` shows every device has.",
    )
    add_location_options(prepare)
    rotate = tls.add_parser(
        "rotate",
        help="make the prepared next TLS key the current one (then restart the vault)",
        description="Keeps the current pair as vault-tls-previous.*. Refuses while a device"
        " has sent no heartbeat since the next key was prepared (it would refuse the vault),"
        " unless --force.",
    )
    add_location_options(rotate)
    rotate.add_argument(
        "--force",
        action="store_true",
        help="rotate even though some devices have not learnt the next key (they need its pin"
        " in the vault_tls_pins policy, or re-enrolment)",
    )


def run_tls(args: argparse.Namespace) -> int | None:
    if args.command != "tls":
        return None
    try:
        return _run(args, locations(args.data, args.db, args.store))
    except (VaultError, DatabaseError, TlsCertificateError) as exc:
        print(f"callreel-vault: {exc}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace, where: VaultLocations) -> int:
    directory, now = where.data / TLS_DIRECTORY, utc_now()
    if args.tls_command == "prepare-rotation":
        prepared = tls_rotation.prepare_rotation(directory, now)
        _audit(where, "tls-prepare-rotation", prepared.key_pin)
        print(
            f"next TLS key {prepared.key_pin} ({prepared.cert_path}); the vault announces it at"
            " every heartbeat from now on. Rotate (callreel-vault tls rotate) once `tls status`"
            " shows every device has sent one."
        )
        return 0
    upcoming = tls_rotation.prepared_next(directory, now)
    unheard = [] if upcoming is None else _not_heard_since(where, _prepared_at(upcoming))
    if args.tls_command == "status":
        current = TlsPair.current(directory).check(now, "see docs/deploy.md")
        print(f"current TLS key {current.key_pin} ({current.cert_path})")
        if upcoming is None:
            print("no next TLS key prepared (callreel-vault tls prepare-rotation)")
            return 0
        print(
            f"next TLS key {upcoming.key_pin}, announced since"
            f" {_prepared_at(upcoming):%Y-%m-%d %H:%M} UTC"
        )
        _show_unheard(unheard)
        return 0
    if unheard and not args.force:
        _show_unheard(unheard)
        print(
            "callreel-vault: not rotating: those devices would refuse the vault's new key; wait"
            " for their heartbeat, or give their users the new pin in the vault_tls_pins"
            " policy and rotate with --force",
            file=sys.stderr,
        )
        return 1
    previous, current = tls_rotation.rotate(directory, now)
    _audit(where, "tls-rotate", current.key_pin, label=f"retired {previous.key_pin}")
    print(
        f"TLS key {current.key_pin} is current; {previous.key_pin} is kept as"
        f" {TlsPair.previous(directory).cert.name}. Restart every vault process using"
        f" {where.data}: they serve the new key from their next start."
    )
    return 0


def _prepared_at(files: TlsFiles) -> datetime.datetime:
    """When the next key was made (and so announced), rounded up: certificates keep whole
    seconds, and a heartbeat answered just before the file existed must not count."""
    return files.not_before + BACKDATE + datetime.timedelta(seconds=1)


def _not_heard_since(where: VaultLocations, since: datetime.datetime) -> list[DeviceHealth]:
    engine = where.open_database()
    try:
        every = devices.health(engine, now=utc_now())
    finally:
        engine.dispose()
    return [d for d in every if d.heartbeat_at is None or d.heartbeat_at < since]


def _show_unheard(unheard: list[DeviceHealth]) -> None:
    if not unheard:
        print("every enrolled device has sent a heartbeat since: it is safe to rotate")
        return
    print(f"{len(unheard)} device(s) have sent no heartbeat since, and do not know the next key:")
    for device in unheard[:SHOWN_DEVICES]:
        last = f"{device.heartbeat_at:%Y-%m-%d %H:%M} UTC" if device.heartbeat_at else "never"
        print(f"  {device.agent} on {device.hostname} (device {device.device_id}, last {last})")
    if len(unheard) > SHOWN_DEVICES:
        print(f"  and {len(unheard) - SHOWN_DEVICES} more (the console's Devices page lists all)")


def _audit(where: VaultLocations, action: str, pin: str, *, label: str | None = None) -> None:
    engine = where.open_database()
    try:
        audit_log.append(
            engine,
            at=utc_now(),
            actor=OPERATOR,
            action=action,
            subject=pin,
            details=AuditDetails(label=label) if label else None,
        )
    finally:
        engine.dispose()
