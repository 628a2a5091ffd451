"""Placing audio blocks on one sample timeline by their capture time. Pure.

Audio is the recording's master clock: sample n of the recording is at start + n / rate. Each
source (microphone, far end) delivers blocks stamped with the ADC time of their first sample,
late and with gaps (an idle PulseAudio monitor can stay silent for seconds). A block that
starts later than the write position by more than the jitter tolerance is preceded by
silence; one that overlaps what was already written loses the overlapping part. So every
source fills exactly the same timeline and the channels stay aligned with each other and
with video stamped from the same clock.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Samples = npt.NDArray[np.int16]
DEFAULT_JITTER_S = 0.02


class ChannelTimeline:
    def __init__(self, rate: int, start_time: float, jitter_s: float = DEFAULT_JITTER_S) -> None:
        if rate <= 0:
            raise ValueError(f"sample rate must be positive, got {rate}")
        self.rate = rate
        self.start_time = start_time
        self._jitter = round(jitter_s * rate)
        self._pending: list[Samples] = []
        self._written = 0  # samples placed on the timeline so far (including silence)
        self._taken = 0  # samples handed out by take()
        self.silence_inserted = 0
        self.samples_dropped = 0

    @property
    def written(self) -> int:
        return self._written

    def add(self, adc_time: float, block: Samples) -> None:
        """Place a mono block whose first sample was captured at `adc_time`."""
        position = round((adc_time - self.start_time) * self.rate)
        gap = position - self._written
        if gap > self._jitter:
            self._append(np.zeros(gap, dtype=np.int16))
            self.silence_inserted += gap
        elif gap < -self._jitter:
            overlap = min(-gap, len(block))
            block = block[overlap:]
            self.samples_dropped += overlap
        self._append(block)

    def _append(self, block: Samples) -> None:
        if len(block):
            self._pending.append(block)
            self._written += len(block)

    def take(self, until: int) -> Samples:
        """Samples from the last take up to sample `until`, silence where none arrived."""
        wanted = until - self._taken
        if wanted <= 0:
            return np.zeros(0, dtype=np.int16)
        available = np.concatenate(self._pending) if self._pending else np.zeros(0, np.int16)
        out = np.zeros(wanted, dtype=np.int16)
        used = min(wanted, len(available))
        out[:used] = available[:used]
        self._pending = [available[used:]] if used < len(available) else []
        if wanted > used:
            # Nothing arrived for the end of this span: it is silence now, for good.
            self._written = max(self._written, until)
            self.silence_inserted += wanted - used
        self._taken = until
        return out


def interleave(left: Samples, right: Samples) -> Samples:
    """Stereo frames (n, 2): the agent's microphone left, the caller right."""
    if len(left) != len(right):
        raise ValueError(f"channels differ in length: {len(left)} and {len(right)}")
    return np.stack([left, right], axis=1)
