"""Composition root of the vault: one data directory (identity, certificate, and on the
embedded default the SQLite database and the segments), or PostgreSQL and S3 by URL."""

from __future__ import annotations

import dataclasses
import logging
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
import uvicorn
from sqlalchemy.engine import Engine

from protocol.api.serving import ServeReady
from protocol.atomic_files import atomic_output
from protocol.keys import VaultIdentity, write_key_pair
from vault.api.app import create_app
from vault.api.guarded_connection import uvicorn_config
from vault.api.serving_limits import ServingLimits
from vault.context import VaultContext
from vault.db.engine import utc_now
from vault.db.opening import open_database
from vault.disk_space import remove_stale_temporaries
from vault.key_rotation import IDENTITY_FILE, retired_identities
from vault.storage.disk import DiskStore
from vault.storage.factory import open_segment_store
from vault.tls import TlsFiles, ensure_certificate
from vault.tls_announcement import AnnouncedTlsPins

TLS_DIRECTORY = "tls"
SCRATCH_DIRECTORY = "tmp"
CHECKPOINT_FILE = "audit-checkpoints.jsonl"


@dataclass(frozen=True, slots=True)
class VaultLocations:
    data: Path
    db_url: str
    store_url: str
    db_given: bool = False
    """The database was named (--db), not the data directory's own SQLite file."""

    def migrate_command(self) -> str:
        """The `callreel-vault migrate` line for this vault, as an operator would type it."""
        command = f"callreel-vault migrate --data {self.data}"
        if self.db_given:
            shown = sa.engine.make_url(self.db_url).render_as_string(hide_password=True)
            command += f" --db {shown}"
        return command

    def open_database(self) -> Engine:
        return open_database(self.db_url, how_to_migrate=self.migrate_command())


def locations(
    data: Path, db_url: str | None = None, store_url: str | None = None
) -> VaultLocations:
    data = data.resolve()
    return VaultLocations(
        data,
        db_url or f"sqlite:///{data / 'vault.db'}",
        store_url or str(data / "segments"),
        db_given=db_url is not None,
    )


def load_or_create_identity(data: Path) -> VaultIdentity:
    """The vault identity in `data`, made on first start (back it up: without it nothing
    sealed to this vault can be opened)."""
    identity_path = data / IDENTITY_FILE
    if not identity_path.exists():
        write_key_pair(VaultIdentity.generate(), data)
    return VaultIdentity.load(identity_path)


def open_vault(where: VaultLocations, *, clock: Callable[[], datetime] = utc_now) -> VaultContext:
    where.data.mkdir(mode=0o700, parents=True, exist_ok=True)
    default_segments = where.data / "segments"
    if where.store_url == str(default_segments):
        # The embedded default owns this directory; a configured one must already exist.
        default_segments.mkdir(mode=0o700, exist_ok=True)
    identity = load_or_create_identity(where.data)
    scratch = where.data / SCRATCH_DIRECTORY
    scratch.mkdir(mode=0o700, exist_ok=True)
    remove_stale_temporaries(scratch)
    store = open_segment_store(where.store_url, clock=clock)
    if isinstance(store, DiskStore):
        remove_stale_temporaries(store.incoming)
    return VaultContext(
        engine=where.open_database(),
        store=store,
        identity=identity,
        clock=clock,
        scratch=scratch,
        audit_checkpoints=where.data / CHECKPOINT_FILE,
        retired_identities=retired_identities(where.data),
    )


class _AnnouncingServer(uvicorn.Server):
    """Says where it listens once its sockets accept connections (uvicorn's own startup
    hook runs before that), so a caller never connects too early or guesses a port."""

    def __init__(self, config: uvicorn.Config, on_listening: Callable[[int], None]) -> None:
        super().__init__(config)
        self._on_listening = on_listening

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and not self.should_exit:
            bound = self.servers[0].sockets[0].getsockname()
            self._on_listening(int(bound[1]))


def _url(host: str, port: int) -> str:
    return f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"


def _print_now(text: str) -> None:
    print(text, flush=True)


def serve(
    where: VaultLocations,
    host: str,
    port: int,
    *,
    hostnames: Sequence[str] = (),
    limits: ServingLimits | None = None,
    announce: Callable[[str], None] = _print_now,
    ready_file: Path | None = None,
) -> None:
    """Serve until stopped. `port` 0 takes any free port; `ready_file` receives a ServeReady
    once connections are accepted."""
    ctx = open_vault(where)
    listening_on = () if host in ("0.0.0.0", "::") else (host,)  # noqa: S104
    names = tuple(dict.fromkeys([*hostnames, "localhost", "127.0.0.1", *listening_on]))
    tls: TlsFiles = ensure_certificate(where.data / TLS_DIRECTORY, names)
    ctx = dataclasses.replace(
        ctx, announced_tls_pins=AnnouncedTlsPins(where.data / TLS_DIRECTORY, tls.key_pin)
    )

    def listening(bound_port: int) -> None:
        url = _url(host, bound_port)
        announce(
            f"callreel-vault: serving {url} (data {where.data}, segments"
            f" {ctx.store.describe()})\n"
            f"callreel-vault: certificate {tls.cert_path} SHA-256 {tls.fingerprint_sha256_hex};"
            f" agents pin its key {tls.key_pin}"
        )
        if ready_file is not None:
            ready = ServeReady(
                url=url,
                certificate=str(tls.cert_path),
                certificate_sha256=tls.fingerprint_sha256_hex,
            )
            with atomic_output(ready_file, mode=0o600) as handle:
                handle.write(ready.model_dump_json().encode())

    logging.basicConfig(level=logging.INFO)
    limits = limits or ServingLimits()
    config = uvicorn_config(
        create_app(ctx, limits),
        limits,
        host=host,
        port=port,
        cert_path=tls.cert_path,
        key_path=tls.key_path,
    )
    _AnnouncingServer(config, listening).run()
