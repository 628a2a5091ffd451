"""The access log in the database: hash-chained records (vault.audit_chain), appended in
their own committed transaction so that callers can release data only after the record is
durable (docs/design.md, invariant 6)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from protocol.api.staff import AuditDetails
from vault.audit_chain import AuditRecord, ChainBreak, append_record, verify_chain
from vault.audit_checkpoints import Checkpoint, CheckpointBreak, check_records
from vault.db.engine import write_transaction
from vault.db.tables import audit_log
from vault.disk_space import is_disk_full
from vault.errors import Unavailable

_APPEND_ATTEMPTS = 20
T = TypeVar("T")
_local_writer = threading.Lock()


def _row_to_record(row: sa.Row[tuple[object, ...]]) -> AuditRecord:
    try:
        parsed = json.loads(str(row.details))
        details = {str(k): str(v) for k, v in parsed.items()}
    except (ValueError, AttributeError):
        # An edited row that is not even JSON still has to show up as a content break.
        details = {"unreadable": str(row.details)}
    return AuditRecord(
        sequence=int(row.sequence),
        at=str(row.at),
        actor=str(row.actor),
        action=str(row.action),
        subject=str(row.subject),
        details=details,
        previous_hash=str(row.previous_hash),
        record_hash=str(row.record_hash),
    )


def _last_record(connection: Connection) -> AuditRecord | None:
    row = connection.execute(
        sa.select(audit_log).order_by(audit_log.c.sequence.desc()).limit(1)
    ).first()
    return None if row is None else _row_to_record(row)


def append(
    engine: Engine,
    *,
    at: datetime,
    actor: str,
    action: str,
    subject: str,
    details: AuditDetails | None = None,
) -> AuditRecord:
    """Write one record and commit it; Unavailable if it cannot be written (then the caller
    must refuse the access it was about to grant). The details' keys are AuditDetails' fields:
    declared once, for the log and for the API that shows it."""
    record, _ = with_record(
        engine,
        lambda _connection: None,
        at=at,
        actor=actor,
        action=action,
        subject=subject,
        details=details,
    )
    return record


class _ChangeFailedError(Exception):
    """The change itself failed: its error is what the caller sees."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


class _SequenceTakenError(Exception):
    """Another writer appended at the sequence number this one read as next."""


def with_record(
    engine: Engine,
    change: Callable[[Connection], T],
    *,
    at: datetime,
    actor: str,
    action: str,
    subject: str,
    details: AuditDetails | Callable[[T], AuditDetails] | None = None,
) -> tuple[AuditRecord, T]:
    """Make `change` and log it in one transaction: both are committed, or neither. `change`
    may run more than once (when another writer takes the log's next sequence number first),
    so it must only use `connection`. Its own errors propagate unchanged. `details` may be
    worked out from what `change` returns."""
    # Two writers that read the same head both try the same sequence number, the primary
    # key: one wins, the other reads the new head and tries again. The chain cannot fork.
    with _local_writer:
        for _ in range(_APPEND_ATTEMPTS):
            try:
                with write_transaction(engine) as connection:
                    try:
                        result = change(connection)
                    except Exception as exc:
                        raise _ChangeFailedError(exc) from exc
                    described = details(result) if callable(details) else details
                    fields = {} if described is None else described.model_dump(exclude_none=True)
                    record = _append_in(
                        connection,
                        at=at,
                        actor=actor,
                        action=action,
                        subject=subject,
                        fields=fields,
                    )
            except _ChangeFailedError as failed:
                raise failed.cause from None
            except _SequenceTakenError:
                continue
            except sa.exc.SQLAlchemyError as exc:
                why = "its disk is full" if is_disk_full(exc) else type(exc).__name__
                raise Unavailable(
                    f"access refused: the access log cannot be written ({why});"
                    " check the vault database"
                ) from None
            else:
                return record, result
    raise Unavailable("access refused: the access log is busy; try again")


def _append_in(
    connection: Connection,
    *,
    at: datetime,
    actor: str,
    action: str,
    subject: str,
    fields: dict[str, str],
) -> AuditRecord:
    record = append_record(
        _last_record(connection),
        at=at.isoformat(),
        actor=actor,
        action=action,
        subject=subject,
        details=fields,
    )
    try:
        connection.execute(
            audit_log.insert().values(
                sequence=record.sequence,
                at=record.at,
                actor=record.actor,
                action=record.action,
                subject=record.subject,
                details=json.dumps(dict(record.details), sort_keys=True),
                previous_hash=record.previous_hash,
                record_hash=record.record_hash,
            )
        )
    except sa.exc.IntegrityError:
        raise _SequenceTakenError from None
    return record


def read_records(connection: Connection, *, subjects: list[str] | None = None) -> list[AuditRecord]:
    query = sa.select(audit_log).order_by(audit_log.c.sequence)
    if subjects is not None:
        query = query.where(audit_log.c.subject.in_(subjects))
    return [_row_to_record(row) for row in connection.execute(query)]


def search_records(
    connection: Connection,
    *,
    actor: str | None = None,
    action: str | None = None,
    subject: str | None = None,
    limit: int,
) -> list[AuditRecord]:
    """The newest `limit` records that match, newest first (the console's filtered view)."""
    query = sa.select(audit_log).order_by(audit_log.c.sequence.desc()).limit(limit)
    if actor:
        query = query.where(audit_log.c.actor == actor)
    if action:
        query = query.where(audit_log.c.action == action)
    if subject:
        query = query.where(audit_log.c.subject == subject)
    return [_row_to_record(row) for row in connection.execute(query)]


def verify(
    engine: Engine,
    expected_head: str | None = None,
    checkpoints: Sequence[Checkpoint] = (),
) -> tuple[int, ChainBreak | CheckpointBreak | None, str | None]:
    """(number of records, where the chain first breaks or None, the last record's hash).
    With signed checkpoints, also the first record they vouch for that was removed or
    rewritten (vault/audit_checkpoints.py)."""
    with engine.connect() as connection:
        records = read_records(connection)
    head = records[-1].record_hash if records else None
    broken = verify_chain(records, expected_head)
    against_checkpoints = check_records(records, checkpoints)
    if against_checkpoints is not None and (
        broken is None or against_checkpoints.chain_break.position <= broken.position
    ):
        return len(records), against_checkpoints, head
    return len(records), broken, head
