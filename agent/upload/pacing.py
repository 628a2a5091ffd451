"""Timing for the uploader, kept apart so that it is tested as arithmetic: retry backoff with
full jitter, and pacing under a bandwidth limit."""

from __future__ import annotations

import random
from collections.abc import Callable

BACKOFF_BASE_S = 1.0
BACKOFF_FACTOR = 2.0
BACKOFF_CAP_S = 300.0
# Past this many doublings the ceiling is the cap anyway; stopping here keeps the power finite.
_MAX_EXPONENT = 64


class Backoff:
    """Exponential backoff with full jitter: the n-th consecutive failure (from 0) waits a
    uniformly random time in [0, min(cap, base * factor**n)], so that many agents coming back
    after a vault outage spread out instead of arriving together."""

    def __init__(
        self,
        *,
        base: float = BACKOFF_BASE_S,
        factor: float = BACKOFF_FACTOR,
        cap: float = BACKOFF_CAP_S,
        rng: random.Random | None = None,
    ) -> None:
        if base <= 0 or factor < 1 or cap < base:
            raise ValueError("backoff needs base > 0, factor >= 1 and cap >= base")
        self.base = base
        self.factor = factor
        self.cap = cap
        self.failures = 0
        self._rng = rng or random.SystemRandom()

    def ceiling(self, failures: int) -> float:
        """The longest wait after `failures` earlier consecutive failures."""
        return min(self.cap, self.base * self.factor ** min(failures, _MAX_EXPONENT))

    def next_delay(self) -> float:
        delay = self._rng.uniform(0.0, self.ceiling(self.failures))
        self.failures += 1
        return delay

    def reset(self) -> None:
        self.failures = 0


class Pacer:
    """Keeps uploads under `limit_kbps` kilobits (1000 bits) per second by pacing after each
    segment: a segment of n bytes whose send began at t lets the next one begin no earlier
    than t + n / rate. No credit builds up while idle, so there are no bursts after a pause.

    The bound that holds: for any run of consecutive segments, the bytes of all but the last
    are at most rate x (start of the last - start of the first). The average rate from the
    start of one segment to the end of its pacing wait never passes the limit; within one
    segment the network sets the speed. 0 means no limit."""

    def __init__(self, limit_kbps: int, clock: Callable[[], float]) -> None:
        if limit_kbps < 0:
            raise ValueError("limit_kbps must be 0 (no limit) or positive")
        self.bytes_per_second = limit_kbps * 1000 / 8
        self._clock = clock

    def delay_after(self, started_at: float, size: int) -> float:
        """How long to wait, from now, before the next segment may begin."""
        if self.bytes_per_second <= 0:
            return 0.0
        return max(0.0, started_at + size / self.bytes_per_second - self._clock())
