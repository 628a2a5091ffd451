"""The uploader's timing as arithmetic (agent/upload/pacing.py): backoff stays within its
ceiling and resets after a success; pacing keeps the average rate under the limit whatever the
network does."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from agent.upload.pacing import Backoff, Pacer


@given(st.lists(st.booleans(), max_size=40), st.integers(0, 2**32))
def test_backoff_stays_within_its_ceiling_and_resets_after_success(
    outcomes: list[bool], seed: int
) -> None:
    backoff = Backoff(rng=random.Random(seed))
    failures = 0
    for succeeded in outcomes:
        if succeeded:
            backoff.reset()
            failures = 0
            continue
        delay = backoff.next_delay()
        assert 0.0 <= delay <= min(300.0, 1.0 * 2.0**failures)
        failures += 1
    assert backoff.ceiling(10_000) == 300.0


@given(
    st.integers(1, 10_000),
    st.lists(st.tuples(st.integers(1, 5_000_000), st.floats(0, 30)), min_size=1, max_size=30),
)
def test_pacing_bound_holds_whatever_the_network_does(
    limit_kbps: int, segments: list[tuple[int, float]]
) -> None:
    now = [0.0]
    pacer = Pacer(limit_kbps, lambda: now[0])
    starts: list[float] = []
    for size, network_seconds in segments:
        starts.append(now[0])
        now[0] += network_seconds
        now[0] += pacer.delay_after(starts[-1], size)
    rate = limit_kbps * 125
    for i in range(1, len(segments)):
        sent = sum(size for size, _ in segments[:i])
        assert sent <= rate * (starts[i] - starts[0]) * (1 + 1e-9) + 1e-6
    assert Pacer(0, lambda: 0.0).delay_after(0.0, 10**9) == 0.0
