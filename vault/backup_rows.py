"""The vault database's rows as JSON lines, and back: the same on SQLite and PostgreSQL, so a
backup of one restores into either."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from vault.db import tables

TABLES: tuple[sa.Table, ...] = (
    tables.users,
    tables.api_tokens,
    tables.sign_in_failures,
    tables.enrol_tokens,
    tables.fleet_tokens,
    tables.enrolment_requests,
    tables.devices,
    tables.training_sessions,
    tables.recordings,
    tables.recording_keys,
    tables.segments,
    tables.coaching_notes,
    tables.releases,
    tables.audit_log,
)
"""In the order rows can be inserted (every foreign key after what it points at)."""
LEFT_OUT: dict[str, str] = {
    tables.request_nonces.name: "they only matter for five minutes",
    tables.sign_in_links.name: "each works once, for ten minutes",
    tables.segment_peaks.name: "derived from the media: the next playback seals them again",
}
"""Tables a backup does not carry, and why; every other table is in TABLES."""


def _to_json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


def _from_json(column: sa.Column[Any], value: Any) -> Any:
    if value is None:
        return None
    if isinstance(column.type, sa.Uuid):
        return uuid.UUID(value)
    if isinstance(column.type, tables.UtcDateTime):
        return datetime.fromisoformat(value)
    if isinstance(column.type, sa.LargeBinary):
        return base64.b64decode(value)
    return value


def dump(connection: Connection, table: sa.Table) -> Iterator[bytes]:
    primary = list(table.primary_key.columns)
    for row in connection.execute(sa.select(table).order_by(*primary)).mappings():
        yield json.dumps({k: _to_json(v) for k, v in row.items()}, sort_keys=True).encode() + b"\n"


def load(connection: Connection, table: sa.Table, lines: Iterator[bytes]) -> int:
    batch: list[dict[str, Any]] = []
    count = 0
    for line in lines:
        document = json.loads(line)
        batch.append({column.name: _from_json(column, document.get(column.name))
                      for column in table.columns})  # fmt: skip
        if len(batch) == 500:
            connection.execute(table.insert(), batch)
            count, batch = count + len(batch), []
    if batch:
        connection.execute(table.insert(), batch)
        count += len(batch)
    return count


def reset_sequences(connection: Connection) -> None:
    """PostgreSQL hands out serial ids from a sequence that inserted ids did not advance."""
    if connection.dialect.name != "postgresql":
        return
    for table in TABLES:
        for column in table.primary_key.columns:
            if column.autoincrement is True:
                highest = connection.execute(sa.select(sa.func.max(column))).scalar_one()
                connection.execute(
                    sa.select(
                        sa.func.setval(
                            sa.func.pg_get_serial_sequence(table.name, column.name),
                            (highest or 0) + 1,
                            False,
                        )
                    )
                )
