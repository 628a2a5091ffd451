"""The access log's hash chain (R14, docs/design.md, invariant 6). Pure: no storage, no clock.

Each record carries the SHA-256 of its predecessor and its own hash over a canonical encoding
of its fields, so editing, removing, inserting or reordering any record breaks the chain at
that point. Cutting records off the end leaves a valid but shorter chain: `verify_chain`
detects that only when given the expected head (the last hash, kept apart from the records,
e.g. printed into each day's report or held by the auditor).
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

GENESIS_HASH = "0" * 64
"""The `previous_hash` of the first record."""


@dataclass(frozen=True, slots=True)
class AuditRecord:
    sequence: int
    """0 for the first record, then one more for each."""
    at: str
    """When it happened, ISO 8601 in UTC (the caller's clock)."""
    actor: str
    action: str
    """playback, download, release, export, deletion, ..."""
    subject: str
    """What was accessed, e.g. a recording id."""
    details: Mapping[str, str]
    """Purpose, release id, reason: whatever the action needs, as text."""
    previous_hash: str
    record_hash: str


class ChainFault(enum.Enum):
    SEQUENCE = "sequence"
    """A record is missing, repeated or out of order."""
    LINK = "link"
    """A record does not point at its predecessor's hash."""
    CONTENT = "content"
    """A record's fields no longer match its own hash (edited)."""
    HEAD = "head"
    """The chain ends before the expected head (records cut off the end)."""
    REMOVED = "removed"
    """A record a signed checkpoint lists is gone (vault/audit_checkpoints.py)."""
    REWRITTEN = "rewritten"
    """A record's hash is not the one a signed checkpoint lists (edited and re-hashed)."""


@dataclass(frozen=True, slots=True)
class ChainBreak:
    fault: ChainFault
    position: int
    """Index in the list given to `verify_chain` where the chain first breaks."""

    def describe(self) -> str:
        return f"audit chain broken at record {self.position}: {self.fault.value}"


def record_hash(
    *,
    sequence: int,
    at: str,
    actor: str,
    action: str,
    subject: str,
    details: Mapping[str, str],
    previous_hash: str,
) -> str:
    # Canonical JSON (sorted keys, no spaces, UTF-8): field boundaries cannot be shifted
    # between fields to forge the same bytes, as plain concatenation would allow.
    canonical = json.dumps(
        {
            "sequence": sequence,
            "at": at,
            "actor": actor,
            "action": action,
            "subject": subject,
            "details": dict(details),
            "previous_hash": previous_hash,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()
    return hashlib.sha256(canonical).hexdigest()


def append_record(
    previous: AuditRecord | None,
    *,
    at: str,
    actor: str,
    action: str,
    subject: str,
    details: Mapping[str, str] | None = None,
) -> AuditRecord:
    """The record that follows `previous` (None for the first record of a log)."""
    sequence = 0 if previous is None else previous.sequence + 1
    previous_hash = GENESIS_HASH if previous is None else previous.record_hash
    fields = dict(details or {})
    return AuditRecord(
        sequence,
        at,
        actor,
        action,
        subject,
        fields,
        previous_hash,
        record_hash(
            sequence=sequence,
            at=at,
            actor=actor,
            action=action,
            subject=subject,
            details=fields,
            previous_hash=previous_hash,
        ),
    )


def verify_chain(
    records: Sequence[AuditRecord], expected_head: str | None = None
) -> ChainBreak | None:
    """None if `records` is an intact chain from the first record (and ends at
    `expected_head` when given); otherwise where and how it first breaks."""
    previous_hash = GENESIS_HASH
    for position, record in enumerate(records):
        if record.sequence != position:
            return ChainBreak(ChainFault.SEQUENCE, position)
        if record.previous_hash != previous_hash:
            return ChainBreak(ChainFault.LINK, position)
        recomputed = record_hash(
            sequence=record.sequence,
            at=record.at,
            actor=record.actor,
            action=record.action,
            subject=record.subject,
            details=record.details,
            previous_hash=record.previous_hash,
        )
        if recomputed != record.record_hash:
            return ChainBreak(ChainFault.CONTENT, position)
        previous_hash = record.record_hash
    if expected_head is not None and previous_hash != expected_head:
        return ChainBreak(ChainFault.HEAD, len(records))
    return None
