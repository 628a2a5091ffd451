"""Signed checkpoints of the access log: what they vouch for, and what breaks them."""

from __future__ import annotations

import itertools

import pytest

from protocol.keys import VaultIdentity
from vault.audit_chain import AuditRecord, ChainFault, append_record
from vault.audit_checkpoints import (
    Checkpoint,
    CheckpointFileError,
    check_records,
    parse_lines,
    sign,
    signing_key,
)

IDENTITY = VaultIdentity.generate()


def _log(count: int) -> list[AuditRecord]:
    records: list[AuditRecord] = []
    for n in range(count):
        previous = records[-1] if records else None
        records.append(append_record(previous, at=f"t{n}", actor="tina", action="playback",
                                     subject=f"r{n}"))  # fmt: skip
    return records


def _checkpoints(records: list[AuditRecord], *cuts: int) -> list[Checkpoint]:
    bounds = [0, *cuts, len(records)]
    return [
        sign(IDENTITY, start, [r.record_hash for r in records[start:end]], f"at{end}")
        for start, end in itertools.pairwise(bounds)
        if end > start
    ]


def test_an_untouched_log_matches_its_checkpoints() -> None:
    records = _log(5)
    assert check_records(records, _checkpoints(records, 2)) is None


def test_the_last_record_removed_is_named() -> None:
    records = _log(5)
    found = check_records(records[:-1], _checkpoints(records, 2))
    assert found is not None
    assert (found.chain_break.fault, found.chain_break.position) == (ChainFault.REMOVED, 4)
    assert "record 4 is missing" in found.describe()


def test_a_rewritten_record_is_named_not_the_ones_after_it() -> None:
    records = _log(5)
    checkpoints = _checkpoints(records, 3)
    forged = records[:1]
    for record in records[1:]:
        actor = "nobody" if record.sequence == 1 else record.actor
        forged.append(append_record(forged[-1], at=record.at, actor=actor,
                                    action=record.action, subject=record.subject))  # fmt: skip
    found = check_records(forged, checkpoints)
    assert found is not None
    assert (found.chain_break.fault, found.chain_break.position) == (ChainFault.REWRITTEN, 1)


def test_lines_round_trip_and_a_changed_line_is_refused() -> None:
    records = _log(3)
    lines = [c.to_line() for c in _checkpoints(records, 1)]
    public = [signing_key(IDENTITY).public_key()]
    assert parse_lines(lines, public) == _checkpoints(records, 1)
    with pytest.raises(CheckpointFileError, match="line 2 does not verify"):
        parse_lines([lines[0], lines[1].replace(b"at3", b"at4")], public)
    with pytest.raises(CheckpointFileError, match="does not verify"):
        parse_lines(lines, [signing_key(VaultIdentity.generate()).public_key()])
    rotated_out = [signing_key(VaultIdentity.generate()).public_key(), public[0]]
    assert parse_lines(lines, rotated_out) == _checkpoints(records, 1)
    with pytest.raises(CheckpointFileError, match="line 1 is not a checkpoint"):
        parse_lines([b"{not json"], public)
