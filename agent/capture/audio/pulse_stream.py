"""One source of call audio read straight from the sound server (PulseAudio, or PipeWire's
pulse server) with libpulse-simple, on Linux.

Why not PortAudio here: PortAudio reaches these servers only through ALSA's `pulse` PCM, and
its ALSA thread then polls in a tight loop. Two such streams cost between 2.5 and 22 CPU
seconds per recorded minute, by the server's state (bench/audio_streams.py), where this
blocking reader costs a fraction of one. What PortAudio still opens: devices that are no
pulse source (raw ALSA devices, or an index) and every device on Windows and macOS.

Why our own ctypes binding: the four calls needed (new, read, get_latency, free) are
libpulse-simple's stable C API, and the one wrapper on PyPI (pasimple 0.0.3) copies each block
twice and reports bare error numbers where `pa_strerror` names the problem.

Not thread-safe per stream: `pa_simple` may be used by one thread at a time, so the reader
thread that reads the stream is also the one that frees it.
"""

from __future__ import annotations

import collections
import ctypes
import threading
import time

import numpy as np

from agent.capture.audio.timeline import Samples
from agent.thread_names import name_native_thread

_PA_STREAM_RECORD = 2
_PA_SAMPLE_S16LE = 3
_UNSET = 0xFFFFFFFF  # (uint32_t) -1: "the server's default" in pa_buffer_attr
RESYNC_S = 0.04
"""A block's capture time is its predecessor's end unless the server's clock says otherwise by
more than this (samples lost in an overrun, or the sound card's clock drifting from ours)."""


class PulseStreamError(RuntimeError):
    """The sound server refused or dropped a stream; the message says why."""


class _SampleSpec(ctypes.Structure):
    _fields_ = (
        ("format", ctypes.c_int),
        ("rate", ctypes.c_uint32),
        ("channels", ctypes.c_uint8),
    )


class _BufferAttr(ctypes.Structure):
    _fields_ = (
        ("maxlength", ctypes.c_uint32),
        ("tlength", ctypes.c_uint32),
        ("prebuf", ctypes.c_uint32),
        ("minreq", ctypes.c_uint32),
        ("fragsize", ctypes.c_uint32),
    )


def _libraries() -> tuple[ctypes.CDLL, ctypes.CDLL]:
    """libpulse-simple, and libpulse for its error messages."""
    try:
        simple = ctypes.CDLL("libpulse-simple.so.0")
        pulse = ctypes.CDLL("libpulse.so.0")
    except OSError as exc:
        raise PulseStreamError(f"libpulse-simple is not installed: {exc}") from exc
    simple.pa_simple_new.restype = ctypes.c_void_p
    simple.pa_simple_new.argtypes = (
        ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_char_p,
        ctypes.POINTER(_SampleSpec), ctypes.c_void_p, ctypes.POINTER(_BufferAttr),
        ctypes.POINTER(ctypes.c_int),
    )  # fmt: skip
    simple.pa_simple_read.restype = ctypes.c_int
    simple.pa_simple_read.argtypes = (
        ctypes.c_void_p,
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.POINTER(ctypes.c_int),
    )
    simple.pa_simple_get_latency.restype = ctypes.c_uint64
    simple.pa_simple_get_latency.argtypes = (ctypes.c_void_p, ctypes.POINTER(ctypes.c_int))
    simple.pa_simple_free.restype = None
    simple.pa_simple_free.argtypes = (ctypes.c_void_p,)
    pulse.pa_strerror.restype = ctypes.c_char_p
    pulse.pa_strerror.argtypes = (ctypes.c_int,)
    return simple, pulse


def block_start_time(
    now: float, latency_s: float, frames: int, rate: int, expected: float | None
) -> tuple[float, bool]:
    """When the first sample of a block just read was captured, and whether that breaks from
    the previous block's end (`expected`). Pure.

    The server's latency says how long ago the block's last sample was captured; alone it
    jitters with this thread's wake-up, so the running sample count is trusted instead unless
    they disagree by more than `RESYNC_S`."""
    measured = now - latency_s - frames / rate
    if expected is None or abs(measured - expected) > RESYNC_S:
        return measured, expected is not None
    return expected, False


class PulseSourceStream:
    """A record stream of one pulse source, read in blocks by a thread of its own.

    Same surface as the PortAudio stream in agent/capture/audio/capture.py: `blocks` of
    (capture time of the first sample, mono int16), `keeping`, `overflows`, start/stop/close.
    """

    def __init__(
        self, name: str, source: str | None, channels: int, rate: int, block_frames: int
    ) -> None:
        self.name = name
        self.channels = channels
        self.rate = rate
        self.blocks: collections.deque[tuple[float, Samples]] = collections.deque()
        self.keeping = False
        self.overflows = 0
        """Breaks in the capture times: samples the server dropped, or clock drift caught up."""
        self.error: str | None = None
        self._block_frames = block_frames
        self._library, self._pulse = _libraries()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        spec = _SampleSpec(_PA_SAMPLE_S16LE, rate, channels)
        # The server hands over one block at a time, so a read returns as soon as one is in.
        attributes = _BufferAttr(_UNSET, _UNSET, _UNSET, _UNSET, block_frames * channels * 2)
        error = ctypes.c_int(0)
        self._handle: int | None = self._library.pa_simple_new(
            None,
            b"callreel-agent",
            _PA_STREAM_RECORD,
            None if source is None else source.encode(),
            f"call audio: {name}".encode(),
            ctypes.byref(spec),
            None,
            ctypes.byref(attributes),
            ctypes.byref(error),
        )
        if not self._handle:
            raise PulseStreamError(
                f"the sound server refused to record the {name} source {source!r}:"
                f" {self._message(error)}"
            )

    def _message(self, error: ctypes.c_int) -> str:
        text = self._pulse.pa_strerror(error.value)
        return text.decode(errors="replace") if text else f"error {error.value}"

    @property
    def time(self) -> float:
        """The clock capture times are on: the system's monotonic clock, as PortAudio's."""
        return time.monotonic()

    def start(self) -> None:
        if self._thread is None and self._handle:
            self._thread = threading.Thread(target=self._read, name=f"audio-{self.name}")
            self._thread.daemon = True
            self._thread.start()

    def stop(self) -> None:
        """Returns once the reader has queued its last block (at most a block from now)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def close(self) -> None:
        self.stop()
        if self._thread is None:
            self._free()  # never started: no reader owns the stream

    def _free(self) -> None:
        handle, self._handle = self._handle, None
        if handle:
            self._library.pa_simple_free(handle)

    def _read(self) -> None:
        name_native_thread(f"audio-{self.name}")
        handle = self._handle
        frames = self._block_frames
        buffer = np.empty((frames, self.channels), dtype=np.int16)
        error = ctypes.c_int(0)
        expected: float | None = None
        try:
            while not self._stop.is_set():
                if self._library.pa_simple_read(
                    handle, buffer.ctypes.data, buffer.nbytes, ctypes.byref(error)
                ):
                    self.error = f"the {self.name} stream failed: {self._message(error)}"
                    return
                latency_us = self._library.pa_simple_get_latency(handle, ctypes.byref(error))
                start, broke = block_start_time(
                    time.monotonic(), latency_us / 1e6, frames, self.rate, expected
                )
                expected = start + frames / self.rate
                if not self.keeping:
                    continue
                self.overflows += broke
                self.blocks.append((start, downmix(buffer, self.channels)))
        finally:
            self._free()


def downmix(block: Samples, channels: int) -> Samples:
    """One channel of int16 from a (frames, channels) block: a copy, averaged, never clipped."""
    if channels == 1:
        mono: Samples = block[:, 0].copy()
        return mono
    # Channel by channel into one int32 column: a sum along the short axis of a (frames, 2)
    # block cost seven times as much, and this runs 50 times a second.
    total = block[:, 0].astype(np.int32)
    for channel in range(1, channels):
        total += block[:, channel]
    total //= channels
    averaged: Samples = total.astype(np.int16)
    return averaged
