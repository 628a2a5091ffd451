"""Which access purposes each recording purpose admits (R15), and retention (R17). The
purposes themselves are part of the API, declared in protocol/api/vocabulary.py."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from protocol.api.vocabulary import Purpose

COMPATIBLE_ACCESS: Mapping[Purpose, frozenset[Purpose]] = {
    # A recording is opened only for the purpose it was made for (the Dutch DPA: "no other
    # purpose"). This table is where a data-protection officer would widen that, in one place.
    purpose: frozenset({purpose})
    for purpose in Purpose
}


def access_allowed(recorded_for: Purpose, stated: Purpose) -> bool:
    return stated in COMPATIBLE_ACCESS[recorded_for]


@dataclass(frozen=True, slots=True)
class RetentionRule:
    keep: timedelta
    """Segments are locked against deletion (S3 Object Lock) for this long after the call."""
    delete_after: timedelta
    """`retention run` destroys the recording's key and segments at this age, unless held."""

    def __post_init__(self) -> None:
        if not timedelta(0) <= self.keep <= self.delete_after:
            raise ValueError("retention must keep for a non-negative time, at most until deletion")


MONTH = timedelta(days=365.25 / 12)
DEFAULT_RETENTION = RetentionRule(keep=12 * MONTH, delete_after=24 * MONTH)
RETENTION: Mapping[Purpose, RetentionRule] = dict.fromkeys(Purpose, DEFAULT_RETENTION)
