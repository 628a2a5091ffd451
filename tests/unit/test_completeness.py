"""When a recording is whole, and the state that follows from what arrived."""

from __future__ import annotations

import pytest

from protocol.api.vocabulary import StoredRecordingState as State
from protocol.segments.format import METADATA_SEGMENT_INDEX
from vault.completeness import assess, of_stored, settled_state


def test_whole_only_with_the_metadata_and_every_announced_segment() -> None:
    assert assess(3, {0, 1, 2}, metadata_stored=True).complete
    assert not assess(3, {0, 1, 2}, metadata_stored=False).complete
    assert assess(3, {0, 2}, metadata_stored=True).missing == (1,)
    assert assess(3, {1, 2}, metadata_stored=True).missing == (0,)
    assert assess(3, {0}, metadata_stored=True).missing == (1, 2)
    assert assess(0, set(), metadata_stored=True).complete


def test_without_a_count_only_gaps_below_the_highest_are_known() -> None:
    unknown = assess(None, {0, 3}, metadata_stored=False)
    assert unknown.missing == (1, 2)
    assert not unknown.complete
    assert "has not arrived" in unknown.describe()
    assert "does not say" in assess(None, {0}, metadata_stored=True).describe()


def test_the_metadata_index_is_told_apart_from_media() -> None:
    whole = of_stored(2, {0, 1, METADATA_SEGMENT_INDEX})
    assert whole.complete
    assert whole.describe() == "complete"


@pytest.mark.parametrize(
    ("current", "complete", "metadata", "ended", "expected"),
    [
        (State.OPEN, False, False, None, State.OPEN),
        (State.OPEN, False, True, None, State.INCOMPLETE),
        (State.OPEN, True, True, None, State.COMPLETE),
        (State.OPEN, False, False, State.COMPLETE, State.INCOMPLETE),
        (State.OPEN, False, False, State.INTERRUPTED, State.INTERRUPTED),
        (State.INTERRUPTED, False, False, None, State.INTERRUPTED),
        (State.INTERRUPTED, True, True, None, State.INTERRUPTED),
        (State.COMPLETE, True, True, State.INTERRUPTED, State.INTERRUPTED),
        (State.INCOMPLETE, False, False, None, State.INCOMPLETE),
        (State.INCOMPLETE, True, True, None, State.COMPLETE),
        (State.SHREDDED, True, True, State.COMPLETE, State.SHREDDED),
    ],
)
def test_the_state_follows_what_arrived(
    current: State, complete: bool, metadata: bool, ended: State | None, expected: State
) -> None:
    stored = {0, 1} if complete else {0}
    whole = assess(2, stored, metadata_stored=metadata)
    assert settled_state(current, whole, ended=ended) is expected
