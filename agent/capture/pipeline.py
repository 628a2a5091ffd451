"""One recording: grab -> encode -> seal -> spool, in two threads with a bounded hand-off.

The grab thread samples the masked window at the frame rate, stamped on the audio clock. The
encode thread reads settled audio, feeds the segmenter, and seals and spools each finished
segment. Plaintext stays in memory from grab to seal (invariant 2). Each frame is kept as
agent/capture/kept_pixels.py decides; while paused, frames are black and audio is silence.

The payment window pauses from the grab before the one that saw its title (R6): the title
appeared at some moment between the two, so audio from the earlier grab on is silenced. For
that the encoder takes audio only up to the latest grab, whose frame decides it; a pause the
state machine asks for (tray, hotkey, command line, the title watcher) starts when asked. When
it stops, it seals the recording's metadata (protocol/recording_metadata.py): each pause with
what held it (R6), each span of blacked-out frames with why (R7), and the consent decision (R5).
Errors never escape as exceptions from the threads: they stop the recording and are kept in
`error` for the state machine (CaptureError) and the tray.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import queue
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from agent.capture.audio.capture import CallAudioCapture
from agent.capture.audio.timeline import Samples
from agent.capture.encoder import EncodedSegment, EncoderSettings, Segmenter
from agent.capture.grab import MaskedGrabber
from agent.spool.spool import RecordingState, Spool
from agent.thread_names import name_native_thread
from protocol.recording_metadata import BlankSpan, ConsentRecord, PauseSpan, RecordingMetadata
from protocol.recording_vocabulary import BlankReason, ConsentMode, PauseSource
from protocol.segments.format import METADATA_SEGMENT_INDEX, MediaType
from protocol.segments.seal import RecordingSealer

DEFAULT_FPS = 5.0

log = logging.getLogger(__name__)


@dataclass(slots=True)
class RecordingSummary:
    segments: int = 0
    frames_grabbed: int = 0
    frames_dropped: int = 0
    frames_left_out: int = 0
    """Grabs after the audio's end, at the hang-up (see Segmenter.finish)."""
    blank_reasons: collections.Counter[BlankReason] = field(default_factory=collections.Counter)
    """Wholly black frames stored, by why (window minimised, moved during the grab...)."""
    pauses: list[PauseSpan] = field(default_factory=list)
    blanked: list[BlankSpan] = field(default_factory=list)
    """Spans of frames blacked out wholly or in part (covered), with why."""
    consent: ConsentRecord = field(
        default_factory=lambda: ConsentRecord(mode=ConsentMode.NOT_REQUIRED)
    )
    error: str | None = None
    stop_phases: dict[str, float] = field(default_factory=dict)
    """Seconds each part of stop() took (the on-hook to flushed budget is 200 ms)."""
    first_frame_at: float | None = None
    """The wall-clock time (time.time) the first frame was grabbed: how long after the notice's
    lead time recording began (bench/armed_agent.py)."""

    @property
    def blank_frames(self) -> int:
        return sum(self.blank_reasons.values())


@dataclass(slots=True)
class _OpenBlankSpan:
    reason: BlankReason
    start_s: float
    frames: int = 1


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
    ) -> None:
        self._grabber = grabber
        self._audio = audio
        self._sealer = sealer
        self._spool = spool
        self._settings = settings or EncoderSettings()
        self._interval = 1.0 / fps
        self.latest_frame: np.ndarray | None = None
        """The last frame as stored (masked, black while paused), for the agent's preview."""
        # None in the queue is a wake-up: stop() must not wait out the encoder's frame timeout.
        self._frames: queue.Queue[tuple[np.ndarray, float] | None] = queue.Queue(
            maxsize=round(fps * 2)
        )
        self._stop = threading.Event()
        self._started = threading.Event()
        """Set by `start`: the grab thread, begun by `prepare`, waits for it."""
        self._lock = threading.Lock()
        self._paused_since: float | None = None
        self._paused_by: set[PauseSource] = set()
        self._asked_to_pause = False
        """By the state machine (pause/resume); the grabs hold `_payment_seen` themselves."""
        self._payment_seen = False
        self._decided_until = 0.0
        """Audio before this time (the latest grab's) has had every grab that can pause it."""
        self._open_blank: _OpenBlankSpan | None = None
        self.summary = RecordingSummary()
        self._threads: list[threading.Thread] = []
        self._start_time = 0.0

    # -- control (any thread) ---------------------------------------------------------

    def prepare(self) -> None:
        """Open the audio devices and the screen ahead of recording (while the notice shows),
        so that the recording starts on settled audio and its first frame is not held up by
        connecting to the display; nothing is kept until `start`."""
        self._audio.open()
        self._start_grab_thread()

    def _start_grab_thread(self) -> None:
        if not self._threads:
            grab = threading.Thread(target=self._grab_loop, name="callreel-grab", daemon=True)
            self._threads = [grab]
            grab.start()

    def start(self, *, paused_by: frozenset[PauseSource] = frozenset()) -> None:
        """Begin recording; a pause keeps it dark and silent from its very first frame."""
        self._start_time = self._audio.start()
        if paused_by:
            self._paused_since = 0.0  # before the first grab, so no frame escapes
            self._paused_by = set(paused_by)
        self._spool.set_recording_state(self._sealer.recording_id, RecordingState.RECORDING)
        self._start_grab_thread()
        encode = threading.Thread(target=self._encode_loop, name="callreel-encode", daemon=True)
        self._threads.append(encode)
        encode.start()
        self._started.set()

    def cancel(self) -> None:
        """Release the devices opened by `prepare` without recording anything (the notice was
        withdrawn, the call declared personal or refused before capture began)."""
        self._stop.set()
        self._started.set()  # wakes the waiting grab thread, which sees the stop
        for thread in self._threads:
            thread.join()
        self._audio.close()
        self._sealer.destroy()
        self._grabber.close()

    def elapsed(self) -> float:
        return self._audio.now() - self._start_time

    def pause(self, sources: frozenset[PauseSource]) -> None:
        """Pause now (no-op if paused); `sources` are what holds the pause."""
        with self._lock:
            self._asked_to_pause = True
            self._open_pause(self.elapsed(), sources)

    def note_pause_sources(self, sources: frozenset[PauseSource]) -> None:
        """What holds the pause changed (say the payment window opened during a manual
        pause): the pause in progress is kept with every source that held it."""
        with self._lock:
            if self._paused_since is not None:
                self._paused_by |= sources

    def resume(self) -> None:
        """The state machine's pause is over; a payment title the grabs still see holds on."""
        with self._lock:
            self._asked_to_pause = False
            if not self._payment_seen:
                self._close_pause(self.elapsed())

    def _open_pause(self, at: float, sources: frozenset[PauseSource]) -> None:
        """Under the lock: paused from `at`, or from earlier if the open pause began later."""
        if self._paused_since is None or at < self._paused_since:
            self._paused_since = max(0.0, at)
        self._paused_by |= sources

    def _close_pause(self, at: float) -> None:
        if self._paused_since is not None:
            self.summary.pauses.append(
                PauseSpan(
                    start_s=self._paused_since,
                    end_s=max(self._paused_since, at),
                    sources=sorted(self._paused_by, key=lambda source: source.value),
                )
            )
            self._paused_since = None
            self._paused_by = set()

    def _payment_decided(self, seen: bool, previous_grab_at: float, at: float) -> None:
        """A grab at `at` did (not) see the payment title (grab thread)."""
        with self._lock:
            if seen and not self._payment_seen:
                # The title appeared after the previous grab: silence from that grab on.
                self._open_pause(previous_grab_at, frozenset({PauseSource.PAYMENT_WINDOW}))
            elif seen:
                self._paused_by.add(PauseSource.PAYMENT_WINDOW)
            elif self._payment_seen and not self._asked_to_pause:
                self._close_pause(at)
            self._payment_seen = seen
            self._decided_until = max(self._decided_until, at)

    def note_consent(self, consent: ConsentRecord) -> None:
        """The consent decision, kept with the recording's metadata (R5)."""
        with self._lock:
            self.summary.consent = consent

    def stop(self) -> RecordingSummary:
        """Stop, flush the last segment to the spool, and return what was recorded."""
        began = time.monotonic()
        self._stop.set()
        self._started.set()  # a grab thread still waiting for `start` sees the stop and ends
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
            return any(span.start_s <= at < span.end_s for span in self.summary.pauses)

    def _grab_loop(self) -> None:
        name_native_thread("callreel-grab")
        try:
            self._grab_frames()
        finally:
            # The screen handle is this thread's own (one per thread): closed here, or its
            # display connection would outlive the recording, one more for every call.
            self._grabber.close_screen()

    def _grab_frames(self) -> None:
        try:
            self._grabber.warm_up()
        except Exception:  # the first grab meets it again and makes it the recording's error
            log.debug("warming up the screen grab failed", exc_info=True)
        self._started.wait()
        if self._stop.is_set():
            return  # cancelled before it began
        next_at = time.monotonic()
        previous_at = 0.0
        try:
            while not self._stop.is_set():
                at = self.elapsed()
                frame = self._grabber.grab(paused=self._is_paused_at(at))
                if self.summary.first_frame_at is None:
                    self.summary.first_frame_at = time.time()
                self._payment_decided(
                    frame.blank_reason is BlankReason.PAYMENT_WINDOW, previous_at, at
                )
                previous_at = at
                pixels = frame.pixels
                if frame.blank_reason is not None:
                    self.summary.blank_reasons[frame.blank_reason] += 1
                self._note_blackout(frame.blackout, at)
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
        finally:
            end = self.elapsed()
            self._note_blackout(None, end)
            with self._lock:
                self._close_pause(end)
                self._decided_until = float("inf")

    def _note_blackout(self, reason: BlankReason | None, at: float) -> None:
        """Extend the span of frames blacked out for `reason`, or close it (grab thread)."""
        current = self._open_blank
        if current is not None and current.reason is reason:
            current.frames += 1
            return
        if current is not None:
            self.summary.blanked.append(
                BlankSpan(
                    start_s=current.start_s,
                    end_s=max(current.start_s, at),
                    reason=current.reason,
                    frames=current.frames,
                )
            )
        self._open_blank = None if reason is None else _OpenBlankSpan(reason, max(0.0, at))

    def _encode_loop(self) -> None:
        # The encoder's own worker threads start from this one and inherit the name.
        name_native_thread("callreel-encode")
        segmenter = Segmenter(self._settings, self._store)
        audio = _HeldAudio()
        try:
            while not self._stop.is_set():
                self._drain_frames(segmenter, timeout=self._interval)
                audio.add(self._audio.read_settled())
                self._feed_audio(segmenter, audio, self._decided())
            phases = self.summary.stop_phases
            mark = time.monotonic()
            self._threads[0].join()  # the grab thread: its last frame, span and pause are in
            self._drain_frames(segmenter, timeout=0)
            audio.add(self._audio.finish())
            self._feed_audio(segmenter, audio, float("inf"))
            phases["audio_stopped"], mark = time.monotonic() - mark, time.monotonic()
            segmenter.finish()
            self.summary.frames_left_out = segmenter.frames_left_out
            phases["last_segment_spooled"], mark = time.monotonic() - mark, time.monotonic()
            self._store_metadata()
            phases["metadata_spooled"] = time.monotonic() - mark
        except Exception as exc:  # noqa: BLE001 - any failure becomes the recording's error
            self._fail(f"encoding or spooling failed: {exc}")

    def _decided(self) -> float:
        with self._lock:
            return self._decided_until

    def _drain_frames(self, segmenter: Segmenter, timeout: float) -> None:
        try:
            item = self._frames.get(timeout=timeout) if timeout else self._frames.get_nowait()
            while True:
                if item is not None:
                    segmenter.add_frame(*item)
                item = self._frames.get_nowait()
        except queue.Empty:
            return

    def _feed_audio(self, segmenter: Segmenter, audio: _HeldAudio, until: float) -> None:
        """Hand the segmenter the held audio up to `until`, silenced where paused."""
        rate = self._audio.rate
        samples = audio.take_until(until, rate)
        if not len(samples):
            return
        at = audio.fed_until - len(samples) / rate
        end = audio.fed_until
        for start, stop in self._pauses_overlapping(at, end):
            # An open pause ends at infinity: clip it to these samples before counting them.
            first = max(0, round((start - at) * rate))
            last = round((min(stop, end) - at) * rate)
            samples[first:last] = 0
        segmenter.add_audio(samples, at)

    def _pauses_overlapping(self, start: float, end: float) -> list[tuple[float, float]]:
        with self._lock:
            spans = [(span.start_s, span.end_s) for span in self.summary.pauses]
            if self._paused_since is not None:
                spans.append((self._paused_since, float("inf")))
        return [(s, e) for s, e in spans if s < end and e > start]

    def _store(self, segment: EncodedSegment) -> None:
        sealed = self._sealer.seal(segment.index, segment.media_type, segment.data)
        self._spool.put(sealed)
        self.summary.segments += 1

    def _store_metadata(self) -> None:
        summary = self.summary
        with self._lock:
            metadata = RecordingMetadata(
                recording_id=self._sealer.recording_id,
                segment_seconds=self._settings.segment_seconds,
                media_segments=summary.segments,
                pauses=list(summary.pauses),
                blanked=list(summary.blanked),
                consent=summary.consent,
                frames_dropped=summary.frames_dropped,
                frames_left_out=summary.frames_left_out,
                silence_inserted_samples=list(self._audio.silence_inserted),
            )
        sealed = self._sealer.seal(METADATA_SEGMENT_INDEX, MediaType.JSON, metadata.to_json())
        self._spool.put(sealed)

    def _fail(self, message: str) -> None:
        if self.summary.error is None:
            self.summary.error = message
        self._stop.set()


class _HeldAudio:
    """Settled audio waiting until the grabs have decided whether it is paused."""

    def __init__(self) -> None:
        self._held: list[Samples] = []
        self._count = 0
        self.fed_until = 0.0
        """Seconds of audio handed on so far (the start of what is held)."""

    def add(self, samples: Samples) -> None:
        if len(samples):
            self._held.append(samples)
            self._count += len(samples)

    def take_until(self, until: float, rate: int) -> Samples:
        """The held samples before `until` (seconds), at most all of them."""
        wanted = self._count if until == float("inf") else round((until - self.fed_until) * rate)
        wanted = max(0, min(self._count, wanted))
        if not wanted:
            return np.zeros((0, 2), dtype=np.int16)
        joined = np.concatenate(self._held)
        taken, rest = joined[:wanted], joined[wanted:]
        self._held = [rest] if len(rest) else []
        self._count = len(rest)
        self.fed_until += wanted / rate
        return taken
