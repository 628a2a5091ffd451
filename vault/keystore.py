"""Key custody (R12, R17). Segments are stored without their sealed data-key stanza; the
stanza is kept once per recording in the database. Destroying that row is crypto-shredding:
copies of the stored segments, in backups or an object store that has not yet deleted them,
hold nothing the vault identity can open."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from protocol.segments.format import FIXED_HEADER_LEN, SEALED_KEY_LEN, SegmentHeader
from vault.db.tables import recording_keys
from vault.errors import Gone

_STANZA = slice(FIXED_HEADER_LEN, FIXED_HEADER_LEN + SEALED_KEY_LEN)


def strip_stanza(sealed: bytes) -> bytes:
    """The segment as stored: every byte but the sealed data key."""
    return sealed[: _STANZA.start] + sealed[_STANZA.stop :]


def restore_stanza(stored: bytes, stanza: bytes) -> bytes:
    return stored[: _STANZA.start] + stanza + stored[_STANZA.start :]


def stored_stanza(connection: Connection, recording_id: uuid.UUID) -> bytes | None:
    row = connection.execute(
        sa.select(recording_keys.c.sealed_key).where(recording_keys.c.recording_id == recording_id)
    ).first()
    return None if row is None else bytes(row.sealed_key)


def keep_stanza(connection: Connection, header: SegmentHeader) -> None:
    connection.execute(
        recording_keys.insert().values(
            recording_id=header.recording_id,
            key_id=header.recipient_key_id,
            sealed_key=header.sealed_key,
        )
    )


def recording_stanza(connection: Connection, recording_id: uuid.UUID) -> bytes:
    stanza = stored_stanza(connection, recording_id)
    if stanza is None:
        raise Gone(
            f"recording {recording_id} has no data key: it was deleted (crypto-shredded)"
            " or none of its segments has arrived"
        )
    return stanza


def destroy_key(connection: Connection, recording_id: uuid.UUID) -> bool:
    done = connection.execute(
        recording_keys.delete().where(recording_keys.c.recording_id == recording_id)
    )
    return done.rowcount > 0
