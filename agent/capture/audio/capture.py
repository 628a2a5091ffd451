"""Call audio: the agent's microphone on the left channel, the caller on the right (R8).

Two PortAudio input streams (sounddevice), one per source, at 48 kHz. Each reads two channels
where its device has them and averages them itself: downmixed by the server, a stereo source
comes out 3 dB louder from PipeWire (which sums at 1/sqrt 2) than from PulseAudio (which
averages), and loud callers would clip. Their callbacks only queue blocks stamped with the ADC
time of the first sample; the consumer places them on one
`ChannelTimeline` per channel, so dropouts and late starts become silence and both channels
cover exactly the same span. Both streams use the same host API, hence the same clock, which
`now()` also reads so that video can be stamped on the audio clock.
"""

from __future__ import annotations

import collections
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from agent.capture.audio.devices import (
    DEFAULT_FAR_END,
    aim_default_far_end,
    register_default_devices,
)
from agent.capture.audio.timeline import ChannelTimeline, Samples, interleave

SAMPLE_RATE = 48_000
# A fixed block size: with PortAudio's variable size the ALSA pulse plugin delivered about
# half real time here.
BLOCK_SECONDS = 0.02
# Blocks reach the callback after their ADC time, and an idle PulseAudio monitor delivers its
# first ones in a burst over a second late. Reads wait for what both channels have delivered;
# only a source this far behind the clock is taken as silent (a dead or stalled device).
MAX_DELIVERY_DELAY_S = 2.5


@dataclass(frozen=True, slots=True)
class AudioSources:
    """Input devices by PortAudio name or index (from policy)."""

    microphone: str | int | None = None
    """None: the system's default input."""
    far_end: str | int | None = None
    """The monitor of the sink the softphone plays to (e.g. an ALSA `pulse` PCM on
    `callsink.monitor`). None: the monitor of the default output sink."""


class AudioCaptureError(RuntimeError):
    """An audio device could not be opened or failed; the message names it."""


class _SourceStream:
    def __init__(self, name: str, device: str | int | None, rate: int) -> None:
        import sounddevice  # noqa: PLC0415 - PortAudio loads only when audio is captured

        self.name = name
        self.blocks: collections.deque[tuple[float, Samples]] = collections.deque()
        self.keeping = False
        """False while open but not yet recording: blocks are dropped, not queued."""
        self.overflows = 0
        try:
            available = int(sounddevice.query_devices(device, "input")["max_input_channels"])
            self.channels = min(2, max(1, available))
            self.stream = sounddevice.InputStream(
                device=device,
                channels=self.channels,
                samplerate=rate,
                dtype="int16",
                blocksize=round(rate * BLOCK_SECONDS),
                callback=self._callback,
            )
        except (sounddevice.PortAudioError, ValueError) as exc:
            raise AudioCaptureError(
                f"cannot open the {name} audio device {device!r}: {exc}; check the audio"
                " device names in policy (`callreel-agent doctor` lists them)"
            ) from exc

    def _callback(self, indata: Any, _frames: int, time_info: Any, status: Any) -> None:
        if not self.keeping:
            return
        if status.input_overflow:
            self.overflows += 1
        if self.channels == 1:
            mono = indata[:, 0].copy()
        else:
            mono = (indata.sum(axis=1, dtype=np.int32) // self.channels).astype(np.int16)
        # deque.append is atomic: no lock on PortAudio's real-time thread.
        self.blocks.append((time_info.inputBufferAdcTime, mono))


class CallAudioCapture:
    def __init__(self, sources: AudioSources, rate: int = SAMPLE_RATE) -> None:
        register_default_devices()
        far_end = sources.far_end
        if far_end is None:
            aim_default_far_end()
            far_end = DEFAULT_FAR_END
        self.rate = rate
        self._sources = [
            _SourceStream("microphone", sources.microphone, rate),
            _SourceStream("far-end", far_end, rate),
        ]
        self._timelines: list[ChannelTimeline] = []
        self._lock = threading.Lock()
        self._opened = False
        self.start_time = 0.0

    def open(self) -> None:
        """Start both streams without recording yet (the state machine does this at notice).

        An idle PulseAudio monitor delivers its first second late and in a burst, with capture
        times that jitter; opened during the notice's lead time it has settled by the time the
        recording starts. Idempotent.
        """
        if self._opened:
            return
        for source in self._sources:
            source.stream.start()
        self._opened = True

    def start(self) -> float:
        """Start recording (opening the streams if needed); returns the time of sample 0."""
        self.open()
        self.start_time = self.now()  # blocks captured before this are dropped by the timeline
        with self._lock:
            for source in self._sources:
                source.keeping = True
            self._timelines = [ChannelTimeline(self.rate, self.start_time) for _ in self._sources]
        return self.start_time

    def now(self) -> float:
        return float(self._sources[0].stream.time)

    def read_settled(self) -> Samples:
        """Stereo int16 frames (n, 2) from the previous read up to what has settled.

        That is as far as both channels have delivered, or the clock minus the maximum
        delivery delay when a channel lags further (its missing span becomes silence).
        """
        with self._lock:
            self._drain()
            delivered = min(timeline.written for timeline in self._timelines)
            overdue = round((self.now() - MAX_DELIVERY_DELAY_S - self.start_time) * self.rate)
            return self._take(max(delivered, overdue))

    def finish(self) -> Samples:
        """Stop both streams and return everything up to the moment they stopped."""
        stop_time = self.now()
        for source in self._sources:
            source.stream.stop()  # returns once the last callback has run
        frames = self._read_until(stop_time)
        for source in self._sources:
            source.stream.close()
        return frames

    def close(self) -> None:
        """Stop and release both devices without recording (notice declined or cancelled)."""
        for source in self._sources:
            source.stream.close()
        self._opened = False

    def _read_until(self, until_time: float) -> Samples:
        with self._lock:
            self._drain()
            return self._take(round((until_time - self.start_time) * self.rate))

    def _drain(self) -> None:
        for source, timeline in zip(self._sources, self._timelines, strict=True):
            while source.blocks:
                adc_time, block = source.blocks.popleft()
                timeline.add(adc_time, block)

    def _take(self, until: int) -> Samples:
        left, right = (timeline.take(max(0, until)) for timeline in self._timelines)
        return interleave(left, right)

    @property
    def silence_inserted(self) -> tuple[int, int]:
        if not self._timelines:
            return (0, 0)
        left, right = self._timelines
        return left.silence_inserted, right.silence_inserted

    @property
    def samples_dropped(self) -> tuple[int, int]:
        if not self._timelines:
            return (0, 0)
        left, right = self._timelines
        return left.samples_dropped, right.samples_dropped
