"""One recording: grab -> encode -> seal -> spool, in two threads with a bounded hand-off.

The grab thread samples the masked window at the frame rate, stamped on the audio clock. The
encode thread reads settled audio, feeds the segmenter, and seals and spools each finished
segment. Plaintext stays in memory from grab to seal (invariant 2). While paused, frames are
black and audio is silence, and the pause is recorded in the recording's metadata (R6).
Errors never escape as exceptions from the threads: they stop the recording and are kept in
`error` for the state machine (CaptureError) and the tray.
"""

from __future__ import annotations

import collections
import contextlib
import json
import queue
import re
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from agent.capture.audio import CallAudioCapture
from agent.capture.encoder import EncodedSegment, EncoderSettings, Segmenter
from agent.capture.grab import MaskedGrabber
from agent.spool import RecordingState, Spool
from protocol.segments.format import METADATA_SEGMENT_INDEX, MediaType
from protocol.segments.seal import RecordingSealer

DEFAULT_FPS = 5.0


@dataclass(slots=True)
class RecordingSummary:
    segments: int = 0
    frames_grabbed: int = 0
    frames_dropped: int = 0
    frames_left_out: int = 0
    """Grabs after the audio's end, at the hang-up (see Segmenter.finish)."""
    blank_reasons: collections.Counter[str] = field(default_factory=collections.Counter)
    """Black frames stored, by why (window minimised, moved during the grab...)."""
    pauses: list[tuple[float, float]] = field(default_factory=list)
    error: str | None = None
    stop_phases: dict[str, float] = field(default_factory=dict)
    """Seconds each part of stop() took (the on-hook to flushed budget is 200 ms)."""

    @property
    def blank_frames(self) -> int:
        return sum(self.blank_reasons.values())


class CapturePipeline:
    def __init__(
        self,
        grabber: MaskedGrabber,
        audio: CallAudioCapture,
        sealer: RecordingSealer,
        spool: Spool,
        *,
        settings: EncoderSettings | None = None,
        fps: float = DEFAULT_FPS,
        blank_titles: re.Pattern[str] | None = None,
    ) -> None:
        self._grabber = grabber
        self._audio = audio
        self._sealer = sealer
        self._spool = spool
        self._settings = settings or EncoderSettings()
        self._interval = 1.0 / fps
        # Checked on every frame, so a payment page is dark from its first frame even before
        # the state machine has heard of it (the agent's title watcher is slower).
        self._blank_titles = blank_titles
        self.latest_frame: np.ndarray | None = None
        """The last frame as stored (masked, black while paused), for the agent's preview."""
        # None in the queue is a wake-up: stop() must not wait out the encoder's frame timeout.
        self._frames: queue.Queue[tuple[np.ndarray, float] | None] = queue.Queue(
            maxsize=round(fps * 2)
        )
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._paused_since: float | None = None
        self.summary = RecordingSummary()
        self._threads: list[threading.Thread] = []
        self._start_time = 0.0

    # -- control (any thread) ---------------------------------------------------------

    def prepare(self) -> None:
        """Open the audio devices ahead of recording (while the notice shows), so that the
        recording starts on settled audio; nothing is kept until `start`."""
        self._audio.open()

    def start(self, *, paused: bool = False) -> None:
        """Begin recording; `paused` keeps it dark and silent from its very first frame."""
        self._start_time = self._audio.start()
        if paused:
            self._paused_since = 0.0  # before the grab thread exists, so no frame escapes
        self._spool.set_recording_state(self._sealer.recording_id, RecordingState.RECORDING)
        self._threads = [
            threading.Thread(target=self._grab_loop, name="callreel-grab", daemon=True),
            threading.Thread(target=self._encode_loop, name="callreel-encode", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def cancel(self) -> None:
        """Release the devices opened by `prepare` without recording anything (the notice was
        withdrawn, the call declared personal or refused before capture began)."""
        self._audio.close()
        self._sealer.destroy()
        self._grabber.close()

    def elapsed(self) -> float:
        return self._audio.now() - self._start_time

    def pause(self) -> None:
        with self._lock:
            if self._paused_since is None:
                self._paused_since = self.elapsed()

    def resume(self) -> None:
        with self._lock:
            if self._paused_since is not None:
                self.summary.pauses.append((self._paused_since, self.elapsed()))
                self._paused_since = None

    def stop(self) -> RecordingSummary:
        """Stop, flush the last segment to the spool, and return what was recorded."""
        began = time.monotonic()
        self.resume()
        self._stop.set()
        with contextlib.suppress(queue.Full):  # a full queue wakes the encoder anyway
            self._frames.put_nowait(None)
        for thread in self._threads:
            thread.join()
        self.summary.stop_phases["threads_joined"] = time.monotonic() - began
        state = RecordingState.INTERRUPTED if self.summary.error else RecordingState.COMPLETE
        self._spool.set_recording_state(self._sealer.recording_id, state)
        self._sealer.destroy()
        self._grabber.close()
        self.summary.stop_phases["total"] = time.monotonic() - began
        return self.summary

    @property
    def error(self) -> str | None:
        return self.summary.error

    # -- threads -----------------------------------------------------------------------

    def _is_paused_at(self, at: float) -> bool:
        with self._lock:
            if self._paused_since is not None and at >= self._paused_since:
                return True
            return any(start <= at < end for start, end in self.summary.pauses)

    def _grab_loop(self) -> None:
        next_at = time.monotonic()
        try:
            while not self._stop.is_set():
                at = self.elapsed()
                frame = self._grabber.grab()
                pixels = frame.pixels
                blank_reason = frame.blank_reason
                if self._blank_titles is not None and self._blank_titles.search(
                    frame.snapshot.title
                ):
                    pixels = np.zeros_like(pixels)
                    blank_reason = blank_reason or "payment window"
                if self._is_paused_at(at):
                    pixels = np.zeros_like(pixels)
                if blank_reason is not None:
                    self.summary.blank_reasons[blank_reason] += 1
                self.latest_frame = pixels
                self.summary.frames_grabbed += 1
                try:
                    self._frames.put_nowait((pixels, at))
                except queue.Full:
                    self.summary.frames_dropped += 1  # the encoder is behind: skip, never block
                next_at += self._interval
                self._stop.wait(max(0.0, next_at - time.monotonic()))
        except Exception as exc:  # noqa: BLE001 - any failure becomes the recording's error
            self._fail(f"screen capture failed: {exc}")

    def _encode_loop(self) -> None:
        segmenter = Segmenter(self._settings, self._store)
        audio_at = 0.0
        try:
            while not self._stop.is_set():
                self._drain_frames(segmenter, timeout=self._interval)
                audio_at = self._feed_audio(segmenter, self._audio.read_settled(), audio_at)
            phases = self.summary.stop_phases
            mark = time.monotonic()
            self._drain_frames(segmenter, timeout=0)
            self._feed_audio(segmenter, self._audio.finish(), audio_at)
            phases["audio_stopped"], mark = time.monotonic() - mark, time.monotonic()
            segmenter.finish()
            self.summary.frames_left_out = segmenter.frames_left_out
            phases["last_segment_spooled"], mark = time.monotonic() - mark, time.monotonic()
            self._store_metadata()
            phases["metadata_spooled"] = time.monotonic() - mark
        except Exception as exc:  # noqa: BLE001 - any failure becomes the recording's error
            self._fail(f"encoding or spooling failed: {exc}")

    def _drain_frames(self, segmenter: Segmenter, timeout: float) -> None:
        try:
            item = self._frames.get(timeout=timeout) if timeout else self._frames.get_nowait()
            while True:
                if item is not None:
                    segmenter.add_frame(*item)
                item = self._frames.get_nowait()
        except queue.Empty:
            return

    def _feed_audio(self, segmenter: Segmenter, samples: np.ndarray, at: float) -> float:
        if not len(samples):
            return at
        rate = self._audio.rate
        until = at + len(samples) / rate
        for start, end in self._pauses_overlapping(at, until):
            # An open pause ends at infinity: clip it to these samples before counting them.
            first = max(0, round((start - at) * rate))
            last = round((min(end, until) - at) * rate)
            samples[first:last] = 0
        segmenter.add_audio(samples, at)
        return until

    def _pauses_overlapping(self, start: float, end: float) -> list[tuple[float, float]]:
        with self._lock:
            spans = list(self.summary.pauses)
            if self._paused_since is not None:
                spans.append((self._paused_since, float("inf")))
        return [(s, e) for s, e in spans if s < end and e > start]

    def _store(self, segment: EncodedSegment) -> None:
        sealed = self._sealer.seal(segment.index, segment.media_type, segment.data)
        self._spool.put(sealed)
        self.summary.segments += 1

    def _store_metadata(self) -> None:
        metadata = {
            "recording_id": str(self._sealer.recording_id),
            "segment_seconds": self._settings.segment_seconds,
            "segments": self.summary.segments,
            "pauses": self.summary.pauses,
            "blank_frames": self.summary.blank_frames,
            "blank_reasons": dict(self.summary.blank_reasons),
            "frames_dropped": self.summary.frames_dropped,
            "frames_left_out": self.summary.frames_left_out,
            "silence_inserted_samples": list(self._audio.silence_inserted),
        }
        sealed = self._sealer.seal(
            METADATA_SEGMENT_INDEX, MediaType.JSON, json.dumps(metadata).encode()
        )
        self._spool.put(sealed)

    def _fail(self, message: str) -> None:
        if self.summary.error is None:
            self.summary.error = message
        self._stop.set()
