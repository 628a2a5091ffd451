"""`callreel-vault backup` and `restore`: one archive that brings a vault back on new hardware.

The archive (tar) holds the database's rows as of one consistent snapshot, taken while the vault
serves; the segments those rows point at (the disk store's files; with S3 only the bucket's
location, since the bucket keeps them under Object Lock); the access log's signed checkpoints;
and, sealed to an operator's passphrase or backup key (vault/backup_secrets.py), the vault's
identity key and TLS key. Segments are written before their rows, so every segment a snapshot
row names is there to copy.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from protocol.keys import VaultIdentity, write_key_pair
from protocol.pinned_tls import CERT_FILENAME
from vault import backup_rows
from vault.db.migrate import head_revision, upgrade
from vault.db.tables import audit_log, recordings, segments, users
from vault.errors import Conflict, VaultError
from vault.key_rotation import IDENTITY_FILE, RETIRED_DIRECTORY, retired_identities
from vault.server import CHECKPOINT_FILE, TLS_DIRECTORY, VaultLocations
from vault.storage.base import SegmentStore
from vault.storage.factory import open_segment_store
from vault.tls import KEY_FILENAME

FORMAT = 1
MANIFEST = "callreel-backup.json"
SECRETS = "secrets.sealed"


@dataclass(frozen=True, slots=True)
class BackupReport:
    rows: dict[str, int]
    segments_copied: int
    store: str
    revision: str


def _is_s3(store_url: str) -> bool:
    return store_url.startswith("s3://")


@contextmanager
def _snapshot(where: VaultLocations) -> Iterator[Connection]:
    """One read transaction: every table as of the same moment, while the vault writes on."""
    engine = where.open_database()
    try:
        with engine.connect() as opened:
            if opened.dialect.name == "postgresql":
                yield opened.execution_options(isolation_level="REPEATABLE READ")
            else:
                opened.exec_driver_sql("BEGIN")  # pysqlite would not begin before a read
                yield opened
    finally:
        engine.dispose()


def _add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    member = tarfile.TarInfo(name)
    member.size, member.mode = len(data), 0o600
    archive.addfile(member, io.BytesIO(data))


def make_backup(
    where: VaultLocations,
    out: Path,
    seal: Callable[[bytes], bytes],
    *,
    progress: Callable[[str], None] = lambda _line: None,
) -> BackupReport:
    secrets = {
        "identity": (where.data / IDENTITY_FILE).read_text(),
        "tls_certificate": (where.data / TLS_DIRECTORY / CERT_FILENAME).read_text(),
        "tls_key": (where.data / TLS_DIRECTORY / KEY_FILENAME).read_text(),
        "retired_identities": [
            identity.to_text() for identity in retired_identities(where.data).values()
        ],
    }
    store = open_segment_store(where.store_url)
    rows: dict[str, int] = {}
    copied = 0
    with tarfile.open(out, "w") as archive, _snapshot(where) as connection:
        revision = str(connection.execute(sa.text("SELECT version_num FROM alembic_version"))
                       .scalar_one())  # fmt: skip
        for table in backup_rows.TABLES:
            lines = b"".join(backup_rows.dump(connection, table))
            rows[table.name] = lines.count(b"\n")
            _add(archive, f"database/{table.name}.jsonl", lines)
            progress(f"{table.name}: {rows[table.name]} rows")
        if not _is_s3(where.store_url):
            keys = connection.execute(
                sa.select(segments.c.blob_key).where(segments.c.deleted_at.is_(None))
            ).scalars()
            for key in keys:
                _add(archive, f"segments/{key}", store.get(str(key)))
                copied += 1
                if copied % 1000 == 0:
                    progress(f"segments: {copied} copied")
        checkpoints = where.data / CHECKPOINT_FILE
        if checkpoints.exists():
            _add(archive, CHECKPOINT_FILE, checkpoints.read_bytes())
        _add(archive, SECRETS, seal(json.dumps(secrets).encode()))
        manifest = {
            "format": FORMAT,
            "revision": revision,
            "store": where.store_url if _is_s3(where.store_url) else "disk",
            "rows": rows,
            "segments": copied,
        }
        _add(archive, MANIFEST, json.dumps(manifest, indent=2).encode())
    return BackupReport(rows, copied, str(manifest["store"]), revision)


def _write_retired(data: Path, texts: list[str]) -> None:
    if not texts:
        return
    directory = data / RETIRED_DIRECTORY
    directory.mkdir(mode=0o700, exist_ok=True)
    for text in texts:
        retired = VaultIdentity.from_text(text)
        path = directory / f"{retired.recipient.key_id.hex()}.key"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(text + "\n")


def _refuse_unless_empty(where: VaultLocations, connection: Connection) -> None:
    if (where.data / IDENTITY_FILE).exists():
        raise Conflict(
            f"{where.data} already holds a vault identity: restore into an empty data directory"
        )
    for table in (users, audit_log, recordings):
        if connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one():
            raise Conflict(f"the database already has {table.name}: restore into an empty database")


def restore_backup(
    archive_path: Path,
    where: VaultLocations,
    open_secrets: Callable[[bytes], bytes],
    *,
    progress: Callable[[str], None] = lambda _line: None,
) -> BackupReport:
    with tarfile.open(archive_path, "r") as archive:

        def read(name: str) -> bytes:
            member = archive.extractfile(name)
            if member is None:
                raise VaultError(f"{archive_path} lacks {name}: not a whole Callreel backup")
            return member.read()

        names = set(archive.getnames())
        if MANIFEST not in names:
            raise VaultError(f"{archive_path} is not a Callreel vault backup (no {MANIFEST})")
        manifest = json.loads(read(MANIFEST))
        if manifest.get("format") != FORMAT or manifest.get("revision") != head_revision():
            raise VaultError(
                f"this backup is of schema revision {manifest.get('revision')}; this release"
                f" restores {head_revision()}: restore with the release that made it, then"
                " upgrade"
            )
        secrets = json.loads(open_secrets(read(SECRETS)))
        identity = VaultIdentity.from_text(secrets["identity"])
        store_url = where.store_url
        if manifest["store"] != "disk" and not _is_s3(store_url):
            raise VaultError(
                f"the segments of this backup are in {manifest['store']}: give --store with"
                " that bucket (or a copy of it)"
            )
        where.data.mkdir(mode=0o700, parents=True, exist_ok=True)
        engine = where.open_database()
        try:
            upgrade(engine)
            with engine.begin() as connection:
                _refuse_unless_empty(where, connection)
                rows = {}
                for table in backup_rows.TABLES:
                    lines = iter(read(f"database/{table.name}.jsonl").splitlines())
                    rows[table.name] = backup_rows.load(connection, table, lines)
                    progress(f"{table.name}: {rows[table.name]} rows")
                backup_rows.reset_sequences(connection)
                keep = dict(
                    connection.execute(sa.select(recordings.c.id, recordings.c.keep_until)).all()
                )
                blobs = connection.execute(
                    sa.select(segments.c.recording_id, segments.c.blob_key).where(
                        segments.c.deleted_at.is_(None)
                    )
                ).all()
            copied = 0
            if manifest["store"] == "disk":
                (where.data / "segments").mkdir(mode=0o700, exist_ok=True)
                store: SegmentStore = open_segment_store(store_url)
                for recording_id, key in blobs:
                    store.put(key, read(f"segments/{key}"), retain_until=keep[recording_id])
                    copied += 1
        finally:
            engine.dispose()
        write_key_pair(identity, where.data)
        _write_retired(where.data, secrets.get("retired_identities", []))
        tls = where.data / TLS_DIRECTORY
        tls.mkdir(mode=0o700, exist_ok=True)
        (tls / CERT_FILENAME).write_text(secrets["tls_certificate"])
        key_path = tls / KEY_FILENAME
        key_path.touch(mode=0o600)
        key_path.write_text(secrets["tls_key"])
        if CHECKPOINT_FILE in names:
            (where.data / CHECKPOINT_FILE).write_bytes(read(CHECKPOINT_FILE))
    return BackupReport(rows, copied, str(manifest["store"]), str(manifest["revision"]))
