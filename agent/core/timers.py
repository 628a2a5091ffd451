"""The core's timers. The machine names wall-clock times (session expiry comes from the
vault); they are kept on the monotonic clock, so a clock step (NTP, resume from sleep) can only
make a timer late, never early, which is all the machine allows."""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable

from agent.session.vocabulary import Event, RecordingId, TimerKind

_Key = tuple[TimerKind, RecordingId | None]


class Timers:
    def __init__(
        self, clock: Callable[[], float], monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._clock = clock
        self._monotonic = monotonic
        self._heap: list[tuple[float, int, TimerKind, RecordingId | None, Event]] = []
        self._sequence = itertools.count()

    def schedule(
        self, kind: TimerKind, recording_id: RecordingId | None, fire_at: float, event: Event
    ) -> None:
        """Feed `event` at wall time `fire_at`; replaces the timer of this kind and recording."""
        self.cancel(kind, recording_id)
        due = self._monotonic() + max(0.0, fire_at - self._clock())
        heapq.heappush(self._heap, (due, next(self._sequence), kind, recording_id, event))

    def cancel(self, kind: TimerKind, recording_id: RecordingId | None) -> None:
        key: _Key = (kind, recording_id)
        kept = [timer for timer in self._heap if (timer[2], timer[3]) != key]
        if len(kept) != len(self._heap):
            self._heap = kept
            heapq.heapify(self._heap)

    def seconds_to_next(self) -> float | None:
        if not self._heap:
            return None
        return max(0.0, self._heap[0][0] - self._monotonic())

    def pop_due(self) -> Event | None:
        """The next event whose time has come, or None. One at a time: feeding it may
        schedule or cancel other timers."""
        if self._heap and self._heap[0][0] <= self._monotonic():
            return heapq.heappop(self._heap)[4]
        return None
