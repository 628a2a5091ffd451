"""The access log's hash chain: every kind of tampering is found, and where."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vault.audit_chain import (
    GENESIS_HASH,
    AuditRecord,
    ChainFault,
    append_record,
    verify_chain,
)


def edited(record: AuditRecord, field: str, value: Any) -> AuditRecord:
    changes: dict[str, Any] = {field: value}
    return dataclasses.replace(record, **changes)


def build_log(length: int) -> list[AuditRecord]:
    records: list[AuditRecord] = []
    for number in range(length):
        records.append(
            append_record(
                records[-1] if records else None,
                at=f"2026-11-22T10:{number:02d}:00Z",
                actor=f"trainer-{number % 3}",
                action=("playback", "download", "release")[number % 3],
                subject=f"recording-{number // 2}",
                details={"purpose": "training"},
            )
        )
    return records


def test_an_untouched_log_verifies_and_ends_at_its_head() -> None:
    records = build_log(6)
    assert records[0].previous_hash == GENESIS_HASH
    assert verify_chain(records) is None
    assert verify_chain(records, expected_head=records[-1].record_hash) is None
    assert verify_chain([]) is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("at", "2026-11-22T23:59:00Z"),
        ("actor", "someone-else"),
        ("action", "deletion"),
        ("subject", "recording-99"),
        ("details", {"purpose": "disciplinary"}),
    ],
)
def test_an_edited_field_breaks_the_chain_at_that_record(field: str, value: object) -> None:
    records = build_log(6)
    records[3] = edited(records[3], field, value)
    fault = verify_chain(records)
    assert fault is not None
    assert (fault.fault, fault.position) == (ChainFault.CONTENT, 3)


def test_an_edit_with_its_hash_recomputed_breaks_the_next_link() -> None:
    records = build_log(6)
    forged = append_record(
        records[2], at=records[3].at, actor="someone-else", action="playback", subject="x"
    )
    records[3] = forged
    fault = verify_chain(records)
    assert fault is not None
    assert (fault.fault, fault.position) == (ChainFault.LINK, 4)


def test_a_removed_record_is_found() -> None:
    records = build_log(6)
    del records[2]
    fault = verify_chain(records)
    assert fault is not None
    assert (fault.fault, fault.position) == (ChainFault.SEQUENCE, 2)


def test_reordered_records_are_found() -> None:
    records = build_log(6)
    records[1], records[4] = records[4], records[1]
    fault = verify_chain(records)
    assert fault is not None
    assert fault.position == 1


def test_a_renumbered_removal_still_breaks_the_links() -> None:
    records = build_log(6)
    del records[2]
    records[2:] = [dataclasses.replace(r, sequence=r.sequence - 1) for r in records[2:]]
    fault = verify_chain(records)
    assert fault is not None
    assert (fault.fault, fault.position) == (ChainFault.LINK, 2)


def test_records_cut_off_the_end_are_found_only_against_the_head() -> None:
    records = build_log(6)
    head = records[-1].record_hash
    assert verify_chain(records[:4]) is None  # a shorter chain is still a chain...
    fault = verify_chain(records[:4], expected_head=head)  # ...but not the one we had
    assert fault is not None
    assert (fault.fault, fault.position) == (ChainFault.HEAD, 4)
    assert fault.describe() == "audit chain broken at record 4: head"


def test_field_boundaries_cannot_be_shifted() -> None:
    first = append_record(None, at="t", actor="ab", action="c", subject="s")
    shifted = append_record(None, at="t", actor="a", action="bc", subject="s")
    assert first.record_hash != shifted.record_hash


@given(
    length=st.integers(min_value=1, max_value=12),
    data=st.data(),
)
def test_any_change_to_any_record_is_found(length: int, data: st.DataObject) -> None:
    records = build_log(length)
    position = data.draw(st.integers(min_value=0, max_value=length - 1))
    field = data.draw(st.sampled_from(["at", "actor", "action", "subject", "previous_hash"]))
    original = getattr(records[position], field)
    value = data.draw(st.text(max_size=20).filter(lambda text: text != original))
    records[position] = edited(records[position], field, value)
    fault = verify_chain(records)
    assert fault is not None
    assert fault.position == position
