"""Call audio: the agent's microphone on the left channel, the caller on the right (R8).

Two input streams at 48 kHz, one per source: on Linux read straight from the sound server
(agent/capture/audio/pulse_stream.py) when it has both sources, else through PortAudio
(sounddevice). Each reads two channels where its device has them and averages them itself:
downmixed by the server, a stereo source comes out 3 dB louder from PipeWire (which sums at
1/sqrt 2) than from PulseAudio (which averages), and loud callers would clip. The streams only
queue blocks stamped with the capture time of their first sample; the consumer places them on
one `ChannelTimeline` per channel, so dropouts and late starts become silence and both
channels cover exactly the same span. Both streams are of one kind, hence on one clock, which
`now()` also reads so that video can be stamped on the audio clock.
"""

from __future__ import annotations

import collections
import logging
import sys
import threading
from dataclasses import dataclass
from typing import Any, Protocol

from agent.capture.audio.devices import (
    DEFAULT_FAR_END,
    aim_default_far_end,
    register_default_devices,
)
from agent.capture.audio.pulse_stream import PulseSourceStream, PulseStreamError, downmix
from agent.capture.audio.sound_server import NoSoundServerError, pulse_sources_for
from agent.capture.audio.timeline import ChannelTimeline, Samples, interleave

log = logging.getLogger(__name__)

SAMPLE_RATE = 48_000
# A fixed block size: with PortAudio's variable size the ALSA pulse plugin delivered about
# half real time here. Each block wakes a reader thread, so longer blocks cost less CPU, but
# stopping waits for the block in progress, against the 200 ms on-hook budget. 40 ms: see
# "Issue 16, third steps" in docs/benchmarks.md (bench/audio_streams.py, pipeline_stop.py).
BLOCK_SECONDS = 0.04
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


class _PortAudioStream:
    """A source opened through PortAudio: on Windows and macOS, and for devices on Linux
    that are no source of the sound server (agent/capture/audio/pulse_stream.py)."""

    def __init__(self, name: str, device: str | int | None, rate: int, block: int) -> None:
        import sounddevice  # noqa: PLC0415 - PortAudio loads only when audio is captured

        self.name = name
        self.blocks: collections.deque[tuple[float, Samples]] = collections.deque()
        self.keeping = False
        """False while open but not yet recording: blocks are dropped, not queued."""
        self.overflows = 0
        try:
            available = int(sounddevice.query_devices(device, "input")["max_input_channels"])
            self.channels = min(2, max(1, available))
            self._stream = sounddevice.InputStream(
                device=device,
                channels=self.channels,
                samplerate=rate,
                dtype="int16",
                blocksize=block,
                callback=self._callback,
            )
        except (sounddevice.PortAudioError, ValueError) as exc:
            raise AudioCaptureError(
                f"cannot open the {name} audio device {device!r}: {exc}; check the audio"
                " device names in policy (`callreel-agent doctor` lists them)"
            ) from exc

    @property
    def time(self) -> float:
        return float(self._stream.time)

    def start(self) -> None:
        self._stream.start()

    def stop(self) -> None:
        self._stream.stop()  # returns once the last callback has run

    def close(self) -> None:
        self._stream.close()

    def _callback(self, indata: Any, _frames: int, time_info: Any, status: Any) -> None:
        if not self.keeping:
            return
        if status.input_overflow:
            self.overflows += 1
        # deque.append is atomic: no lock on PortAudio's real-time thread.
        self.blocks.append((time_info.inputBufferAdcTime, downmix(indata, self.channels)))


class _SourceStream(Protocol):
    name: str
    blocks: collections.deque[tuple[float, Samples]]
    keeping: bool
    overflows: int

    @property
    def time(self) -> float: ...
    def start(self) -> None: ...
    def stop(self) -> None: ...
    def close(self) -> None: ...


def _open_sources(sources: AudioSources, rate: int, block: int) -> list[_SourceStream]:
    """Both streams from the sound server itself where it has both sources (Linux), else
    both through PortAudio: the two must share one clock. `block` is in frames."""
    if sys.platform == "linux" and not any(
        isinstance(device, int) for device in (sources.microphone, sources.far_end)
    ):
        far_end = None if sources.far_end == DEFAULT_FAR_END else sources.far_end
        try:
            microphone_source, far_end_source = pulse_sources_for(
                _as_name(sources.microphone), _as_name(far_end)
            )
        except (NoSoundServerError, LookupError) as exc:
            log.info("call audio through PortAudio: %s", exc)
        else:
            try:
                return [
                    PulseSourceStream(name, source.name, min(2, source.channels), rate, block)
                    for name, source in (
                        ("microphone", microphone_source),
                        ("far-end", far_end_source),
                    )
                ]
            except PulseStreamError as exc:
                raise AudioCaptureError(
                    f"{exc}; check the audio device names in policy (`callreel-agent doctor`"
                    " lists them)"
                ) from exc
    far_end_device = sources.far_end
    if far_end_device is None:
        aim_default_far_end()
        far_end_device = DEFAULT_FAR_END
    return [
        _PortAudioStream("microphone", sources.microphone, rate, block),
        _PortAudioStream("far-end", far_end_device, rate, block),
    ]


def _as_name(device: str | int | None) -> str | None:
    return None if device is None else str(device)


class CallAudioCapture:
    def __init__(
        self,
        sources: AudioSources,
        rate: int = SAMPLE_RATE,
        *,
        block_seconds: float = BLOCK_SECONDS,
    ) -> None:
        register_default_devices()
        self.rate = rate
        self._sources = _open_sources(sources, rate, round(rate * block_seconds))
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
            source.start()
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
        return self._sources[0].time

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
            source.stop()  # returns once the last block is queued
        frames = self._read_until(stop_time)
        for source in self._sources:
            source.close()
        return frames

    def close(self) -> None:
        """Stop and release both devices without recording (notice declined or cancelled)."""
        for source in self._sources:
            source.close()
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
    def stream_kind(self) -> str:
        """How the devices are read: "sound server" or "PortAudio" (for doctor and tests)."""
        return "sound server" if isinstance(self._sources[0], PulseSourceStream) else "PortAudio"

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
