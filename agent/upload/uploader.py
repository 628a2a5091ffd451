"""Taking spooled recordings to the vault, in a thread of its own (no Qt).

Per settled recording: register it with its training session, upload each pending segment and
only then acknowledge it in the spool (docs/design.md, invariant 5), then end it at the vault.
Failures are classified by `VaultRequestError.retryable`:
- retryable (connection, timeout, 408, 429, 5xx): back off with full jitter and try again;
  nothing is acknowledged;
- permanent for one recording (quota used up, session ended, conflict, malformed, not found):
  the recording is marked refused in the spool, its segments stay on disk and nothing retries
  it on its own; the refusal shows in `UploadStatus.refusals`;
- permanent for the device (unknown device, bad signature, revoked): all uploading stops until
  the machine is enrolled again.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal

from agent.spool.spool import Spool, SpoolCorruptError, SpooledRecording, VaultState
from agent.upload.pacing import Backoff, Pacer
from agent.vault_connection.client import DeviceClient, VaultRequestError
from protocol.api.vocabulary import RecordingEnd

log = logging.getLogger(__name__)

UploadState = Literal["idle", "uploading", "waiting", "stopped"]
Wait = Callable[[threading.Event, float], object]
# The vault's name for a body damaged in transit: the spooled copy checked out, so sending it
# again is the cure, even though the vault answers 400.
_RETRY_CODES = frozenset({"digest-mismatch"})
# How long stop() waits for the thread; a request already in flight finishes on its own.
_STOP_TIMEOUT_S = 1.0


def _size(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


@dataclass(frozen=True, slots=True)
class UploadStatus:
    state: UploadState
    backlog_segments: int = 0
    backlog_bytes: int = 0
    uploaded_segments: int = 0
    last_error: str | None = None
    retry_at: float | None = None
    """When the next attempt is due, on the uploader's clock (time.monotonic by default)."""
    refusals: tuple[str, ...] = ()
    needs_enrolment: bool = False

    def note(self, now: float | None = None) -> str:
        """One line for the tray; `now` is on the uploader's clock."""
        backlog = f"{self.backlog_segments} segments ({_size(self.backlog_bytes)})"
        attention = ""
        if self.refusals:
            count = len(self.refusals)
            attention = f"; {count} recording{'s' if count > 1 else ''} need attention"
        if self.state == "stopped":
            if self.needs_enrolment:
                return f"uploads stopped: enrol this machine again ({self.last_error})"
            return f"uploads stopped; {backlog} on this machine{attention}"
        if self.state == "waiting":
            reason = (self.last_error or "upload failed").partition(":")[0]
            wait = (
                0.0
                if self.retry_at is None
                else self.retry_at - (time.monotonic() if now is None else now)
            )
            return f"{backlog} waiting; {reason}, retrying in {max(0, round(wait))} s{attention}"
        if self.state == "uploading":
            return f"uploading: {backlog} to go{attention}"
        if self.backlog_segments == 0 and not self.refusals:
            return "all recordings uploaded"
        if self.backlog_segments == 0:
            return "all recordings uploaded" + attention
        return f"{backlog} kept on this machine until their calls are settled{attention}"


class _DeviceRefusedError(Exception):
    """The vault no longer accepts this machine at all."""


def _is_device_refusal(exc: VaultRequestError) -> bool:
    # The vault answers a revoked device with 403 and says so in its message; a vault that
    # names it with its own code is recognised as well.
    revoked = exc.status == 403 and "revoked" in str(exc)
    return exc.status == 401 or exc.code == "device-revoked" or revoked


class Uploader:
    def __init__(
        self,
        spool: Spool,
        client: DeviceClient,
        *,
        agent_version: str,
        limit_kbps: int = 0,
        heartbeat_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        wait: Wait | None = None,
        rng: random.Random | None = None,
        on_change: Callable[[UploadStatus], None] | None = None,
        on_vault_recipient: Callable[[str], None] | None = None,
        on_vault_tls_pins: Callable[[list[str]], None] | None = None,
    ) -> None:
        if heartbeat_s <= 0:
            raise ValueError("heartbeat_s must be positive")
        self._spool = spool
        self._client = client
        self._agent_version = agent_version
        self._heartbeat_s = heartbeat_s
        self._clock = clock
        self._wait_for: Wait = wait or (lambda event, seconds: event.wait(seconds))
        self._backoff = Backoff(rng=rng)
        self._pacer = Pacer(limit_kbps, clock)
        self._on_change = on_change
        self._on_vault_recipient = on_vault_recipient
        self._on_vault_tls_pins = on_vault_tls_pins
        self._wakeup = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._status = UploadStatus("idle")
        self._uploaded = 0
        self._retry_at: float | None = None
        self._thread: threading.Thread | None = None

    # -- control (any thread) ---------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("the uploader was already started")
        self._thread = threading.Thread(target=self._run, name="callreel-upload", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """New work was spooled (or a call settled): look again now, unless backing off."""
        self._wakeup.set()

    def stop(self, timeout: float = _STOP_TIMEOUT_S) -> bool:
        """Stop the thread; True once it has ended. Waits and backoff end at once; an HTTP
        request in flight runs to its own timeout, and its segment, if confirmed, is still
        acknowledged (or uploaded again, idempotently, next time)."""
        self._stopping.set()
        self._wakeup.set()
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def status(self) -> UploadStatus:
        with self._lock:
            return self._status

    # -- the thread -------------------------------------------------------------------------

    def _run(self) -> None:
        next_heartbeat = self._clock()
        try:
            while True:
                # Cleared before the stop check, so a stop() from now on cuts any wait short.
                self._wakeup.clear()
                if self._stopping.is_set():
                    break
                now = self._clock()
                if now >= next_heartbeat:
                    next_heartbeat = now + self._heartbeat_s
                    self._heartbeat()
                if self._retry_at is not None and now < self._retry_at:
                    self._wait_for(self._wakeup, min(self._retry_at, next_heartbeat) - now)
                    continue
                if self._drain_once():
                    self._wait_for(self._wakeup, max(0.0, next_heartbeat - self._clock()))
        except _DeviceRefusedError as exc:
            refusal = str(exc)
        else:
            self._publish(state="stopped", retry_at=None)
            return
        log.error("uploads stopped, the vault refuses this machine: %s", refusal)
        self._publish(state="stopped", last_error=refusal, retry_at=None, needs_enrolment=True)

    def _drain_once(self) -> bool:
        """One pass over the work; True if it went through (idle now), False to back off."""
        try:
            for recording in self._spool.recordings_to_upload():
                if self._stopping.is_set():
                    return True
                self._upload(recording)
        except _DeviceRefusedError:
            raise
        except VaultRequestError as exc:
            return self._back_off(str(exc))
        except Exception as exc:
            # Anything unforeseen (the spool's disk, a bug) must show, not end the thread.
            log.exception("upload pass failed")
            return self._back_off(f"upload failed: {exc}")
        self._backoff.reset()
        self._retry_at = None
        self._publish(state="idle", last_error=None, retry_at=None)
        return True

    def _back_off(self, error: str) -> bool:
        delay = self._backoff.next_delay()
        self._retry_at = self._clock() + delay
        log.warning("upload failed, retrying in %.1f s: %s", delay, error)
        self._publish(state="waiting", last_error=error, retry_at=self._retry_at)
        return False

    def _upload(self, recording: SpooledRecording) -> None:
        rid = recording.recording_id
        self._publish(state="uploading")
        try:
            if recording.vault_state is VaultState.UNREGISTERED and not self._register(recording):
                return
            for segment in self._spool.pending_for(rid):
                if self._stopping.is_set():
                    return
                try:
                    data = self._spool.read(segment)
                except SpoolCorruptError as exc:
                    # Kept for inspection; the rest of the recording waits with it.
                    self._refuse(rid, str(exc))
                    return
                began = self._clock()
                self._client.upload_segment(segment.sha256, data)
                self._spool.acknowledge(segment.sha256)
                self._uploaded += 1
                self._backoff.reset()
                self._publish(state="uploading")
                self._pace(self._pacer.delay_after(began, segment.size))
            if self._stopping.is_set() or self._spool.pending_for(rid):
                return
            self._client.end_recording(rid, RecordingEnd(recording.state.value))
            self._spool.mark_ended(rid)
            log.info("recording %s is with the vault (%s)", rid, recording.state.value)
        except VaultRequestError as exc:
            if _is_device_refusal(exc):
                raise _DeviceRefusedError(str(exc)) from exc
            if exc.retryable or exc.code in _RETRY_CODES:
                raise
            self._refuse(rid, str(exc))

    def _register(self, recording: SpooledRecording) -> bool:
        rid = recording.recording_id
        try:
            session = uuid.UUID(str(recording.session_id))
        except ValueError:
            self._refuse(rid, f"session id {recording.session_id!r} is not a UUID")
            return False
        started = datetime.fromtimestamp(recording.started_at or 0.0, UTC)
        self._client.register_recording(rid, session, started)
        self._spool.mark_registered(rid)
        return True

    def _refuse(self, recording_id: uuid.UUID, reason: str) -> None:
        log.warning("recording %s refused, kept on this machine: %s", recording_id, reason)
        self._spool.mark_refused(recording_id, reason)
        self._publish()

    def _pace(self, delay: float) -> None:
        # A wake() must not cut pacing short, so wait out the whole deadline.
        deadline = self._clock() + delay
        while delay > 0 and not self._stopping.is_set():
            self._wait_for(self._stopping, delay)
            delay = deadline - self._clock()

    def _heartbeat(self) -> None:
        try:
            spooled = self._spool.status()
            answer = self._client.heartbeat(
                self._agent_version, spooled.pending_segments, spooled.pending_bytes
            )
            if answer.vault_recipient and self._on_vault_recipient is not None:
                self._on_vault_recipient(answer.vault_recipient)
            if answer.vault_tls_pins and self._on_vault_tls_pins is not None:
                self._on_vault_tls_pins(answer.vault_tls_pins)
        except VaultRequestError as exc:
            if _is_device_refusal(exc):
                raise _DeviceRefusedError(str(exc)) from exc
            log.warning("heartbeat failed: %s", exc)
            self._publish(last_error=f"heartbeat failed: {exc}")
        except Exception as exc:
            log.exception("heartbeat failed")
            self._publish(last_error=f"heartbeat failed: {exc}")
        else:
            if (self.status().last_error or "").startswith("heartbeat failed"):
                self._publish(last_error=None)

    def _publish(self, **changes: Any) -> None:
        spooled = self._spool.status()
        refusals = tuple(
            f"recording {r.recording_id}: {r.attention}" for r in self._spool.needing_attention()
        )
        with self._lock:
            new = replace(
                self._status,
                backlog_segments=spooled.pending_segments,
                backlog_bytes=spooled.pending_bytes,
                uploaded_segments=self._uploaded,
                refusals=refusals,
                **changes,
            )
            changed = new != self._status
            self._status = new
        if changed and self._on_change is not None:
            self._on_change(new)
