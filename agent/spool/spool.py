"""Durable spool of sealed segments waiting for the vault.

Layout under the spool root:
    manifest.sqlite   versioned manifest (PRAGMA user_version): segments and recordings
    segments/<sha256>.seg   sealed segments, named by the SHA-256 of their bytes
    tmp/              segments being written; anything here after a crash is partial
    quarantine/       files found in segments/ that fail their own hash (kept, never deleted)
    spool.lock        held while an agent process owns the spool

Format 2 adds to each recording the training session it belongs to, when its call started,
and how far the vault has taken it (`VaultState`); a format-1 spool is migrated in place on
open, its recordings kept (they have no session, so they are listed as needing attention and
never uploaded).

A segment is written to tmp/, fsynced, renamed into segments/, the directory fsynced, and only
then entered in the manifest. It leaves only through `acknowledge()` with its hash. Every step
survives SIGKILL: `Spool()` recovers on open (see `RecoveryReport`).
"""

from __future__ import annotations

import contextlib
import enum
import errno
import hashlib
import logging
import os
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock, Timeout

from protocol.private_directories import NotPrivateError, make_private
from protocol.segments.format import MediaType, SegmentError, parse_header

log = logging.getLogger(__name__)

SPOOL_FORMAT_VERSION = 2
DEFAULT_MAX_BYTES = 2 * 1024**3
DEFAULT_MIN_FREE_BYTES = 64 * 1024**2
_SEGMENT_SUFFIX = ".seg"
_NO_SPACE_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}

_SCHEMA = """
CREATE TABLE recordings (
    recording_id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    updated_at REAL NOT NULL,
    session_id TEXT,
    started_at REAL,
    vault_state TEXT NOT NULL DEFAULT 'unregistered',
    refusal TEXT
);
CREATE TABLE segments (
    sequence INTEGER PRIMARY KEY AUTOINCREMENT,
    sha256 TEXT NOT NULL UNIQUE,
    recording_id TEXT NOT NULL REFERENCES recordings(recording_id),
    segment_index INTEGER NOT NULL,
    media_type INTEGER NOT NULL,
    size INTEGER NOT NULL,
    state TEXT NOT NULL,
    spooled_at REAL NOT NULL,
    UNIQUE (recording_id, media_type, segment_index)
);
"""

# Each step takes a manifest of the previous format to the next; they run in one transaction.
_MIGRATIONS = {
    1: (
        "ALTER TABLE recordings ADD COLUMN session_id TEXT",
        "ALTER TABLE recordings ADD COLUMN started_at REAL",
        "ALTER TABLE recordings ADD COLUMN vault_state TEXT NOT NULL DEFAULT 'unregistered'",
        "ALTER TABLE recordings ADD COLUMN refusal TEXT",
    ),
}


_RECORDINGS_QUERY = (
    "SELECT r.recording_id, r.session_id, r.started_at, r.state, r.vault_state, r.refusal,"
    " COUNT(s.sha256) FROM recordings r"
    " LEFT JOIN segments s ON s.recording_id = r.recording_id AND s.state = ?"
)


class SegmentState(enum.StrEnum):
    PENDING = "pending"
    ACKNOWLEDGED = "acknowledged"


class RecordingState(enum.StrEnum):
    RECORDING = "recording"
    COMPLETE = "complete"
    INTERRUPTED = "interrupted"
    DISCARDED = "discarded"


class VaultState(enum.StrEnum):
    """How far the vault has taken a recording."""

    UNREGISTERED = "unregistered"
    REGISTERED = "registered"
    ENDED = "ended"
    REFUSED = "refused"


SETTLED_STATES = (RecordingState.COMPLETE, RecordingState.INTERRUPTED)
NO_SESSION_NOTE = (
    "recorded outside a training session (callreel-agent record): it is kept on this machine"
    " and never uploaded"
)


class SpoolError(Exception):
    """The spool cannot do what was asked; the message says why and what to do."""


class SpoolFullError(SpoolError):
    """No room for a segment: the disk is full or the spool is at its size limit."""


class SpoolLockedError(SpoolError):
    """Another process owns this spool."""


class SpoolCorruptError(SpoolError):
    """A spooled file no longer matches its hash."""


@dataclass(frozen=True, slots=True)
class SpooledSegment:
    sha256: str
    recording_id: uuid.UUID
    segment_index: int
    media_type: MediaType
    size: int
    spooled_at: float


@dataclass(frozen=True, slots=True)
class SpooledRecording:
    recording_id: uuid.UUID
    session_id: str | None
    started_at: float | None
    state: RecordingState
    vault_state: VaultState
    refusal: str | None
    pending_segments: int

    @property
    def attention(self) -> str | None:
        """Why a person has to look at this recording, or None while it takes its course."""
        if self.vault_state is VaultState.REFUSED:
            return f"refused by the vault: {self.refusal}"
        if self.session_id is None and self.state is not RecordingState.DISCARDED:
            return NO_SESSION_NOTE
        return None


@dataclass(frozen=True, slots=True)
class SpoolStatus:
    pending_segments: int
    pending_bytes: int
    max_bytes: int
    error: str | None


@dataclass(slots=True)
class RecoveryReport:
    removed_partial_files: int = 0
    adopted_segments: int = 0
    finished_acknowledgements: int = 0
    quarantined_files: list[str] = field(default_factory=list)
    missing_segments: list[str] = field(default_factory=list)
    interrupted_recordings: list[uuid.UUID] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (
            self.removed_partial_files
            or self.adopted_segments
            or self.finished_acknowledgements
            or self.quarantined_files
            or self.missing_segments
            or self.interrupted_recordings
        )


def _fsync_directory(path: Path) -> None:
    # Windows cannot open a directory for fsync; NTFS journals the rename itself.
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _is_no_space(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in _NO_SPACE_ERRNOS:
        return True
    return isinstance(exc, sqlite3.OperationalError) and "full" in str(exc)


class Spool:
    def __init__(
        self,
        root: Path,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        min_free_bytes: int = DEFAULT_MIN_FREE_BYTES,
    ) -> None:
        if max_bytes <= 0:
            raise ValueError("spool max_bytes must be positive")
        self.root = root
        self.max_bytes = max_bytes
        self.min_free_bytes = min_free_bytes
        self._segments_dir = root / "segments"
        self._tmp_dir = root / "tmp"
        self._quarantine_dir = root / "quarantine"
        self._lock = threading.RLock()
        self._error: str | None = None
        try:
            make_private(root, "spool")
            for directory in (self._segments_dir, self._tmp_dir, self._quarantine_dir):
                directory.mkdir(mode=0o700, exist_ok=True)
        except NotPrivateError as exc:
            raise SpoolError(str(exc)) from exc
        except OSError as exc:
            raise SpoolError(f"cannot create spool directory {root}: {exc}") from exc
        self._process_lock = FileLock(root / "spool.lock")
        try:
            self._process_lock.acquire(timeout=0)
        except Timeout:
            raise SpoolLockedError(
                f"spool {root} is in use by another Callreel agent process; stop it first"
            ) from None
        try:
            self._db = self._open_manifest()
            self.recovery = self._recover()
        except BaseException:
            self._process_lock.release()
            raise
        if not self.recovery.clean:
            log.warning("spool %s recovered after an unclean stop: %s", root, self.recovery)

    # -- opening and recovery ---------------------------------------------------------------

    def _open_manifest(self) -> sqlite3.Connection:
        path = self.root / "manifest.sqlite"
        try:
            db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA foreign_keys=ON")
            version = db.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise SpoolError(
                f"spool manifest {path} cannot be read ({exc}); move the spool directory aside"
                " and restart the agent, then send the old one to support"
            ) from exc
        if version == 0:
            with self._transaction(db):
                # executescript() would commit early; run the schema inside this transaction.
                for statement in filter(str.strip, _SCHEMA.split(";")):
                    db.execute(statement)
                db.execute(f"PRAGMA user_version={SPOOL_FORMAT_VERSION}")
        elif version < SPOOL_FORMAT_VERSION:
            # SQLite's ALTER TABLE and user_version are transactional: a crash mid-migration
            # leaves the old format whole, and the next open migrates again.
            with self._transaction(db):
                for step in range(version, SPOOL_FORMAT_VERSION):
                    for statement in _MIGRATIONS[step]:
                        db.execute(statement)
                db.execute(f"PRAGMA user_version={SPOOL_FORMAT_VERSION}")
            log.info("spool %s migrated from format %d to %d", path, version, SPOOL_FORMAT_VERSION)
        elif version != SPOOL_FORMAT_VERSION:
            db.close()
            raise SpoolError(
                f"spool {self.root} uses manifest format {version}, this agent reads"
                f" {SPOOL_FORMAT_VERSION}; upgrade the agent (the spool is left untouched)"
            )
        return db

    @staticmethod
    @contextlib.contextmanager
    def _transaction(db: sqlite3.Connection) -> Iterator[None]:
        db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def _recover(self) -> RecoveryReport:
        report = RecoveryReport()
        for partial in self._tmp_dir.iterdir():
            partial.unlink()
            report.removed_partial_files += 1
        db = self._db
        for (sha,) in db.execute(
            "SELECT sha256 FROM segments WHERE state = ?", (SegmentState.ACKNOWLEDGED,)
        ).fetchall():
            self._segment_path(sha).unlink(missing_ok=True)
            db.execute("DELETE FROM segments WHERE sha256 = ?", (sha,))
            report.finished_acknowledgements += 1
        known = {sha for (sha,) in db.execute("SELECT sha256 FROM segments").fetchall()}
        on_disk: set[str] = set()
        for path in self._segments_dir.iterdir():
            sha = path.name.removesuffix(_SEGMENT_SUFFIX)
            on_disk.add(sha)
            if sha not in known:
                self._adopt(path, report)
        for sha in sorted(known - on_disk):
            db.execute("DELETE FROM segments WHERE sha256 = ?", (sha,))
            report.missing_segments.append(sha)
            log.error("spooled segment %s vanished from disk before upload", sha)
        for (recording,) in db.execute(
            "SELECT recording_id FROM recordings WHERE state = ?", (RecordingState.RECORDING,)
        ).fetchall():
            report.interrupted_recordings.append(uuid.UUID(recording))
        db.execute(
            "UPDATE recordings SET state = ?, updated_at = ? WHERE state = ?",
            (RecordingState.INTERRUPTED, time.time(), RecordingState.RECORDING),
        )
        _fsync_directory(self._segments_dir)
        return report

    def _adopt(self, path: Path, report: RecoveryReport) -> None:
        """A complete segment renamed into place whose manifest row never committed."""
        data = path.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        header = None
        if path.name == sha + _SEGMENT_SUFFIX:
            with contextlib.suppress(SegmentError):
                header = parse_header(data)
        problem = "its content does not match its name"
        if header is not None:
            try:
                with self._transaction(self._db):
                    self._insert(
                        sha, header.recording_id, header.segment_index, header.media_type, data
                    )
            except sqlite3.IntegrityError:
                problem = "another segment is spooled at the same place in its recording"
            else:
                report.adopted_segments += 1
                return
        target = self._quarantine_dir / path.name
        path.replace(target)
        report.quarantined_files.append(path.name)
        log.error("spool file %s cannot be adopted (%s); moved to %s", path, problem, target)

    # -- writing ----------------------------------------------------------------------------

    def put(self, sealed: bytes) -> SpooledSegment:
        """Store one sealed segment durably; returns once it survives a crash.

        Raises SpoolFullError when there is no room: nothing already spooled is ever removed
        to make space, and the caller still holds the segment.
        """
        try:
            header = parse_header(sealed)
        except SegmentError as exc:
            raise SpoolError(f"refusing to spool data that is not a sealed segment: {exc}") from exc
        sha = hashlib.sha256(sealed).hexdigest()
        with self._lock:
            existing = self._find(sha)
            if existing is not None:
                return existing
            clash = self._db.execute(
                "SELECT sha256 FROM segments WHERE recording_id = ? AND media_type = ?"
                " AND segment_index = ?",
                (str(header.recording_id), int(header.media_type), header.segment_index),
            ).fetchone()
            if clash is not None:
                raise SpoolError(
                    f"segment {header.segment_index} of recording {header.recording_id} is"
                    f" already spooled with different content ({clash[0]})"
                )
            self._check_room(len(sealed))
            final_path = self._segment_path(sha)
            try:
                self._write_durably(final_path, sealed)
                with self._transaction(self._db):
                    segment = self._insert(
                        sha, header.recording_id, header.segment_index, header.media_type, sealed
                    )
            except (OSError, sqlite3.OperationalError) as exc:
                final_path.unlink(missing_ok=True)
                if _is_no_space(exc):
                    self._error = f"disk full under {self.root}"
                    raise SpoolFullError(
                        f"the disk holding the spool {self.root} is full; free space on it"
                        " (spooled segments are kept until the vault confirms them)"
                    ) from exc
                self._error = f"cannot write to spool {self.root}: {exc}"
                raise SpoolError(self._error) from exc
            self._error = None
            return segment

    def _check_room(self, size: int) -> None:
        used = self._pending_bytes()
        if used + size > self.max_bytes:
            self._error = f"spool full: {used} of {self.max_bytes} bytes waiting for the vault"
            raise SpoolFullError(
                f"the spool {self.root} holds {used} bytes waiting for the vault and a new"
                f" {size}-byte segment would pass its limit of {self.max_bytes}; check the"
                " vault connection (nothing is deleted to make room)"
            )
        free = shutil.disk_usage(self.root).free
        if free - size < self.min_free_bytes:
            self._error = f"disk almost full under {self.root}: {free} bytes free"
            raise SpoolFullError(
                f"only {free} bytes are free on the disk holding the spool {self.root}"
                f" (keeping at least {self.min_free_bytes}); free space on that disk"
            )

    def _write_durably(self, final_path: Path, data: bytes) -> None:
        temp_path = self._tmp_dir / f"{final_path.name}.{uuid.uuid4().hex}.tmp"
        try:
            fd = os.open(temp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            temp_path.replace(final_path)
        except BaseException:
            temp_path.unlink(missing_ok=True)
            raise
        _fsync_directory(self._segments_dir)

    def _insert(
        self,
        sha: str,
        recording_id: uuid.UUID,
        segment_index: int,
        media_type: MediaType,
        data: bytes,
    ) -> SpooledSegment:
        now = time.time()
        self._db.execute(
            "INSERT OR IGNORE INTO recordings (recording_id, state, updated_at) VALUES (?, ?, ?)",
            (str(recording_id), RecordingState.RECORDING, now),
        )
        self._db.execute(
            "INSERT INTO segments (sha256, recording_id, segment_index, media_type, size, state,"
            " spooled_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                sha,
                str(recording_id),
                segment_index,
                int(media_type),
                len(data),
                SegmentState.PENDING,
                now,
            ),
        )
        return SpooledSegment(sha, recording_id, segment_index, media_type, len(data), now)

    # -- draining ---------------------------------------------------------------------------

    def pending(self) -> list[SpooledSegment]:
        """Segments waiting for the vault, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT sha256, recording_id, segment_index, media_type, size, spooled_at"
                " FROM segments WHERE state = ? ORDER BY sequence",
                (SegmentState.PENDING,),
            ).fetchall()
        return [
            SpooledSegment(sha, uuid.UUID(rec), index, MediaType(media), size, at)
            for sha, rec, index, media, size, at in rows
        ]

    def read(self, segment: SpooledSegment) -> bytes:
        """The segment's bytes, checked against its hash before they go anywhere."""
        try:
            data = self._segment_path(segment.sha256).read_bytes()
        except FileNotFoundError:
            raise SpoolCorruptError(
                f"spooled segment {segment.sha256} is missing from {self._segments_dir}"
            ) from None
        if hashlib.sha256(data).hexdigest() != segment.sha256:
            raise SpoolCorruptError(
                f"spooled segment {segment.sha256} no longer matches its hash (disk corruption);"
                " it is kept for inspection"
            )
        return data

    def acknowledge(self, sha256: str) -> None:
        """The vault confirmed this hash: the segment may go. Unknown hashes are an error."""
        with self._lock:
            if self._find(sha256) is None:
                raise SpoolError(
                    f"acknowledgement for {sha256!r} matches no spooled segment; nothing removed"
                )
            with self._transaction(self._db):
                self._db.execute(
                    "UPDATE segments SET state = ? WHERE sha256 = ?",
                    (SegmentState.ACKNOWLEDGED, sha256),
                )
            self._segment_path(sha256).unlink(missing_ok=True)
            with self._transaction(self._db):
                self._db.execute("DELETE FROM segments WHERE sha256 = ?", (sha256,))

    # -- recordings -------------------------------------------------------------------------

    def set_recording_state(self, recording_id: uuid.UUID, state: RecordingState) -> None:
        with self._lock, self._transaction(self._db):
            self._db.execute(
                "INSERT INTO recordings (recording_id, state, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT(recording_id) DO UPDATE SET state = excluded.state,"
                " updated_at = excluded.updated_at",
                (str(recording_id), state, time.time()),
            )

    def set_recording_session(
        self, recording_id: uuid.UUID, session_id: str, started_at: float
    ) -> None:
        """Tie a recording to its training session before capture starts; only recordings
        with a session are ever uploaded. Creates the recording (recording) if it is new."""
        with self._lock, self._transaction(self._db):
            row = self._db.execute(
                "SELECT session_id, vault_state FROM recordings WHERE recording_id = ?",
                (str(recording_id),),
            ).fetchone()
            if row is not None and row[1] != VaultState.UNREGISTERED and row[0] != session_id:
                raise SpoolError(
                    f"recording {recording_id} is already registered with the vault under"
                    f" session {row[0]}; its session cannot change"
                )
            self._db.execute(
                "INSERT INTO recordings (recording_id, state, updated_at, session_id, started_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT(recording_id) DO UPDATE SET"
                " session_id = excluded.session_id, started_at = excluded.started_at,"
                " updated_at = excluded.updated_at",
                (str(recording_id), RecordingState.RECORDING, time.time(), session_id, started_at),
            )

    def recordings_to_upload(self) -> list[SpooledRecording]:
        """Recordings the uploader should take to the vault, oldest call first.

        Only settled captures: segments of a call still in progress stay here, because a
        personal-call declaration or a consent refusal can still destroy them locally.
        """
        return self._recordings(
            "r.state IN (?, ?) AND r.session_id IS NOT NULL AND r.vault_state IN (?, ?)",
            (*SETTLED_STATES, VaultState.UNREGISTERED, VaultState.REGISTERED),
            "r.started_at, r.updated_at",
            None,
        )

    def list_recordings(self, limit: int = 50) -> list[SpooledRecording]:
        """The most recently touched recordings, newest first (the agent's window)."""
        return self._recordings("1 = 1", (), "r.updated_at DESC", limit)

    def unregistered_calls_by_session(self) -> dict[str, int]:
        """Calls kept here that the vault has not counted yet, per training session.

        The vault counts a call against its session's quota when the recording is registered,
        after the call; until then only this spool knows the call was used.
        """
        with self._lock:
            rows = self._db.execute(
                "SELECT session_id, COUNT(*) FROM recordings WHERE session_id IS NOT NULL"
                " AND vault_state = ? AND state != ? GROUP BY session_id",
                (VaultState.UNREGISTERED, RecordingState.DISCARDED),
            ).fetchall()
        return {str(session): int(count) for session, count in rows}

    def needing_attention(self) -> list[SpooledRecording]:
        """Recordings that stay here until a person acts: refused by the vault, or recorded
        without a training session."""
        return self._recordings(
            "r.vault_state = ? OR (r.session_id IS NULL AND r.state != ?)",
            (VaultState.REFUSED, RecordingState.DISCARDED),
            "r.updated_at",
            None,
        )

    def recording(self, recording_id: uuid.UUID) -> SpooledRecording | None:
        found = self._recordings("r.recording_id = ?", (str(recording_id),), "1", None)
        return found[0] if found else None

    def pending_for(self, recording_id: uuid.UUID) -> list[SpooledSegment]:
        """A recording's segments waiting for the vault: media by index, metadata last."""
        with self._lock:
            rows = self._db.execute(
                "SELECT sha256, recording_id, segment_index, media_type, size, spooled_at"
                " FROM segments WHERE recording_id = ? AND state = ?"
                " ORDER BY media_type = ?, segment_index",
                (str(recording_id), SegmentState.PENDING, int(MediaType.JSON)),
            ).fetchall()
        return [
            SpooledSegment(sha, uuid.UUID(rec), index, MediaType(media), size, at)
            for sha, rec, index, media, size, at in rows
        ]

    def mark_registered(self, recording_id: uuid.UUID) -> None:
        self._set_vault_state(recording_id, VaultState.REGISTERED, None)

    def mark_ended(self, recording_id: uuid.UUID) -> None:
        self._set_vault_state(recording_id, VaultState.ENDED, None)

    def mark_refused(self, recording_id: uuid.UUID, reason: str) -> None:
        """The vault will not take this recording: its segments stay on disk, untouched, and
        nothing retries it on its own; `reason` is shown to the person."""
        self._set_vault_state(recording_id, VaultState.REFUSED, reason)

    def _set_vault_state(
        self, recording_id: uuid.UUID, state: VaultState, refusal: str | None
    ) -> None:
        with self._lock, self._transaction(self._db):
            done = self._db.execute(
                "UPDATE recordings SET vault_state = ?, refusal = ?, updated_at = ?"
                " WHERE recording_id = ?",
                (state, refusal, time.time(), str(recording_id)),
            )
            if done.rowcount == 0:
                raise SpoolError(f"no recording {recording_id} in the spool")

    def _recordings(
        self, where: str, params: tuple[object, ...], order: str, limit: int | None
    ) -> list[SpooledRecording]:
        # The clauses are this module's own constants; only values travel as parameters.
        tail = f" WHERE {where} GROUP BY r.recording_id ORDER BY {order}"
        query = _RECORDINGS_QUERY + tail
        arguments: tuple[object, ...] = (SegmentState.PENDING, *params)
        if limit is not None:
            query += " LIMIT ?"
            arguments = (*arguments, limit)
        with self._lock:
            rows = self._db.execute(query, arguments).fetchall()
        return [
            SpooledRecording(
                uuid.UUID(rid),
                session,
                started,
                RecordingState(state),
                VaultState(vault_state),
                refusal,
                pending,
            )
            for rid, session, started, state, vault_state, refusal, pending in rows
        ]

    def recording_state(self, recording_id: uuid.UUID) -> RecordingState | None:
        with self._lock:
            row = self._db.execute(
                "SELECT state FROM recordings WHERE recording_id = ?", (str(recording_id),)
            ).fetchone()
        return None if row is None else RecordingState(row[0])

    def discard_recording(self, recording_id: uuid.UUID) -> int:
        """Destroy a recording's unsent segments (personal call, consent declined)."""
        with self._lock:
            shas = [
                sha
                for (sha,) in self._db.execute(
                    "SELECT sha256 FROM segments WHERE recording_id = ?", (str(recording_id),)
                ).fetchall()
            ]
            self.set_recording_state(recording_id, RecordingState.DISCARDED)
            for sha in shas:
                self._segment_path(sha).unlink(missing_ok=True)
            with self._transaction(self._db):
                self._db.execute(
                    "DELETE FROM segments WHERE recording_id = ?", (str(recording_id),)
                )
            _fsync_directory(self._segments_dir)
            return len(shas)

    # -- status -----------------------------------------------------------------------------

    def status(self) -> SpoolStatus:
        with self._lock:
            count, size = self._db.execute(
                "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM segments WHERE state = ?",
                (SegmentState.PENDING,),
            ).fetchone()
            return SpoolStatus(count, size, self.max_bytes, self._error)

    def close(self) -> None:
        with self._lock:
            self._db.close()
            self._process_lock.release()

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- helpers ----------------------------------------------------------------------------

    def _segment_path(self, sha: str) -> Path:
        return self._segments_dir / (sha + _SEGMENT_SUFFIX)

    def _pending_bytes(self) -> int:
        (size,) = self._db.execute(
            "SELECT COALESCE(SUM(size), 0) FROM segments WHERE state = ?",
            (SegmentState.PENDING,),
        ).fetchone()
        return int(size)

    def _find(self, sha: str) -> SpooledSegment | None:
        row = self._db.execute(
            "SELECT sha256, recording_id, segment_index, media_type, size, spooled_at"
            " FROM segments WHERE sha256 = ?",
            (sha,),
        ).fetchone()
        if row is None:
            return None
        sha_, rec, index, media, size, at = row
        return SpooledSegment(sha_, uuid.UUID(rec), index, MediaType(media), size, at)
