"""The agent's core: one thread owns the state machine and carries out its commands.

This module is the event loop and the command interpreter; its timers are in
agent/core/timers.py, the vault's sessions and the quota arithmetic in
agent/core/vault_sessions.py, and the window's list of recordings in
agent/core/recordings_view.py.

Everything that happens (a detector's off-hook, a click on the notice, a poll of the vault, a
timer) is put on one queue and handled in order on the core thread, so the state machine sees
one event at a time and its commands run in the order it gave them. No Qt here: the user
interface is an `AgentView` the core calls, and it reaches the core only through
`AgentControls`, whose methods enqueue and return.

The notice's lead time and the consent deadline count from the moment the interface reports
the notice on screen (as CallPolicy says), not from when the machine asked for it: its timers
are only ever delayed, never brought forward, which it allows (timers may be late, never
premature). A notice that does not appear
within `NOTICE_SHOW_TIMEOUT_S` means nothing is recorded.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import numpy as np

from agent.capture.pipeline import CapturePipeline
from agent.core.recordings_view import recordings_shown
from agent.core.timers import Timers
from agent.core.vault_sessions import SessionPoller, SessionTracker, VaultSessions
from agent.core.view import AgentStatus, AgentView, NoticeContent, SessionSummary
from agent.detect.base import CallSignal, UntrustedSource
from agent.session.machine import RecordingStateMachine
from agent.session.vocabulary import (
    CancelTimer,
    CaptureError,
    CaptureStopped,
    Command,
    ConsentConfirmed,
    ConsentDeclined,
    ConsentTimedOut,
    DestroyRecording,
    Event,
    HideNotice,
    NoticeElapsed,
    OffHook,
    OnHook,
    Outcome,
    Pause,
    PauseCapture,
    PersonalCallDeclared,
    RecordConsent,
    RecordingId,
    Rejected,
    ReportError,
    Resume,
    ResumeCapture,
    SessionExpired,
    SetTimer,
    ShowNotice,
    StartCapture,
    StopCapture,
    TimerKind,
    TrainingSession,
)
from agent.settings.layers import SettingShown
from agent.spool.spool import RecordingState, Spool
from protocol.api.agent import TrainingSessionView
from protocol.recording_metadata import ConsentRecord
from protocol.recording_vocabulary import ConsentDecision, ConsentMode, PauseSource

log = logging.getLogger(__name__)

NOTICE_SHOW_TIMEOUT_S = 10.0
_FROM_THE_NOTICE = frozenset({TimerKind.NOTICE_LEAD, TimerKind.CONSENT_DEADLINE})
CAPTURE_CHECK_INTERVAL_S = 0.25
MAX_PROBLEMS_SHOWN = 5


class CaptureFactory(Protocol):
    """Builds one recording's pipeline from the settings; owns the window and audio choices."""

    captured_window: str
    captured_audio: str

    def create(self, recording_id: RecordingId) -> CapturePipeline: ...


@dataclass(frozen=True, slots=True)
class UploadSummary:
    """What the uploader reports, as the core shows it."""

    backlog_segments: int = 0
    backlog_bytes: int = 0
    note: str = "not in touch with the vault yet"
    problems: tuple[str, ...] = ()


# --- Queue items besides the machine's own events -------------------------------------


@dataclass(frozen=True, slots=True)
class _NoticeOnScreen:
    recording_id: RecordingId
    at: float


@dataclass(frozen=True, slots=True)
class _SessionsPolled:
    sessions: list[TrainingSessionView]


@dataclass(frozen=True, slots=True)
class _UploadChanged:
    summary: UploadSummary


@dataclass(frozen=True, slots=True)
class _FromUser:
    """An event the agent asked for (tray, notice, hotkey, command line): refusals are told."""

    event: Event


@dataclass(frozen=True, slots=True)
class _Problem:
    message: str


@dataclass(frozen=True, slots=True)
class _Task:
    run: Callable[[], None]


class _Shutdown:
    pass


_Item = (
    Event
    | _NoticeOnScreen
    | _SessionsPolled
    | _UploadChanged
    | _FromUser
    | _Problem
    | _Task
    | _Shutdown
)


@dataclass(slots=True)
class _Recording:
    recording_id: RecordingId
    pipeline: CapturePipeline | None
    lead_time_s: float
    from_the_notice: dict[TimerKind, float] = field(default_factory=dict)
    """Timers that count from the notice being on screen (its lead time, the consent
    deadline): the time the machine asked for, held until the notice is exposed."""
    shown_at: float | None = None
    show_deadline: float = 0.0
    started: bool = False
    stopped: bool = False
    error_reported: bool = False


class AgentCore:
    def __init__(
        self,
        *,
        machine: RecordingStateMachine,
        spool: Spool,
        capture: CaptureFactory,
        view: AgentView,
        vault: VaultSessions | None,
        settings_shown: Sequence[SettingShown] = (),
        session_poll_s: float = 15.0,
        session_wait_s: float = 25.0,
        clock: Callable[[], float] = time.time,
        on_capture_settled: Callable[[], None] = lambda: None,
        preview: Callable[[bool], np.ndarray | None] = lambda _paused: None,
        agent_name: str = "",
    ) -> None:
        self._machine = machine
        self._spool = spool
        self._capture = capture
        self._view = view
        self._vault = vault
        self._settings_shown = tuple(settings_shown)
        self._clock = clock
        self._on_capture_settled = on_capture_settled
        self._preview = preview
        self._agent_name = agent_name
        """Who confirms a caller's consent at this desk, kept with the recording."""

        self._queue: queue.Queue[_Item] = queue.Queue()
        self._timers = Timers(clock)
        self._recordings: dict[RecordingId, _Recording] = {}
        self._sessions = SessionTracker()
        self._upload = UploadSummary()
        self._problems: list[str] = []
        self._last_status: AgentStatus | None = None
        self.status: AgentStatus = self._build_status()
        """The latest status, readable from any thread (replaced, never mutated)."""

        self._thread = threading.Thread(target=self._run, name="callreel-core", daemon=True)
        self._poller = (
            None
            if vault is None
            else SessionPoller(
                vault,
                lambda polled: self.post(_SessionsPolled(polled)),
                session_poll_s,
                wait_s=session_wait_s,
            )
        )

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()
        if self._poller is not None:
            self._poller.start()
        self._publish(force=True)

    def shutdown(self, timeout: float = 15.0) -> None:
        """Stop any capture (the recording is kept, marked interrupted) and the threads."""
        if self._poller is not None:
            self._poller.stop(timeout=0)
        self._queue.put(_Shutdown())
        self._thread.join(timeout)
        if self._poller is not None:
            self._poller.stop(timeout)

    def post(self, item: _Item) -> None:
        self._queue.put(item)

    def poll_sessions_now(self) -> None:
        if self._poller is not None:
            self._poller.poll_now()

    # --- inputs from detectors, the uploader and the control socket (any thread) --------

    def on_call_signal(self, signal: CallSignal | UntrustedSource) -> None:
        if isinstance(signal, UntrustedSource):
            self.post(_Problem(f"{signal.detector} detector: {signal.problem}"))
            return
        log.info(
            "call %s from %s (%s)",
            "off-hook" if signal.off_hook else "on-hook",
            signal.detector,
            signal.reason or signal.call_id,
        )
        self.post(OffHook(signal.call_id) if signal.off_hook else OnHook(signal.call_id))

    def on_upload_status(self, summary: UploadSummary) -> None:
        self.post(_UploadChanged(summary))

    def handle_control(self, request: dict[str, object]) -> dict[str, object]:
        """The control socket's `pause`, `resume` and `status` (on the server's thread)."""
        command = request.get("command")
        if command == "pause":
            self.pause(PauseSource.COMMAND_LINE)
            return {"ok": True}
        if command == "resume":
            self.resume(PauseSource.COMMAND_LINE)
            return {"ok": True}
        if command == "status":
            status = self.status
            return {
                "ok": True,
                "state": status.state.value,
                "session": None if status.session is None else status.session.session_id,
                "paused_by": sorted(source.value for source in status.paused_by),
                "backlog_segments": status.backlog_segments,
                "upload": status.upload_note,
                "problems": list(status.problems),
            }
        return {"ok": False, "error": f"unknown command {command!r}"}

    # --- AgentControls (any thread) -----------------------------------------------------

    def pause(self, source: PauseSource) -> None:
        self.post(_FromUser(Pause(source)))

    def resume(self, source: PauseSource) -> None:
        self.post(_FromUser(Resume(source)))

    def declare_personal_call(self) -> None:
        self.post(_FromUser(PersonalCallDeclared()))

    def confirm_consent(self, recording_id: RecordingId) -> None:
        self.post(_FromUser(ConsentConfirmed(recording_id)))

    def decline_consent(self, recording_id: RecordingId) -> None:
        self.post(_FromUser(ConsentDeclined(recording_id)))

    def notice_shown(self, recording_id: RecordingId) -> None:
        self.post(_NoticeOnScreen(recording_id, self._clock()))

    def preview_frame(self) -> np.ndarray | None:
        capturing = self._capturing()
        if capturing is not None:
            return capturing.latest_frame
        return self._preview(bool(self.status.paused_by))

    def refresh_recordings(self) -> None:
        threading.Thread(
            target=self._load_recordings, name="callreel-recordings", daemon=True
        ).start()

    def open_console(self) -> None:
        threading.Thread(
            target=self._open_console, name="callreel-console-link", daemon=True
        ).start()

    # --- the core thread ----------------------------------------------------------------

    def _run(self) -> None:
        while True:
            item = self._next_item()
            if isinstance(item, _Shutdown):
                self._stop_all_capture()
                return
            try:
                if item is not None:
                    self._handle_item(item)
                self._fire_due_timers()
                self._check_capture()
            except Exception:
                log.exception("the agent core failed handling %r", item)
                self._add_problem(f"internal error while handling {type(item).__name__}")
            self._publish()

    def _next_item(self) -> _Item | None:
        timeout = CAPTURE_CHECK_INTERVAL_S
        next_timer = self._timers.seconds_to_next()
        if next_timer is not None:
            timeout = min(timeout, next_timer)
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def _handle_item(self, item: _Item) -> None:
        match item:
            case _FromUser(event=event):
                self._feed(event, from_user=True)
            case _NoticeOnScreen(recording_id=rid, at=at):
                self._notice_on_screen(rid, at)
            case _SessionsPolled(sessions=sessions):
                self._sessions_polled(sessions)
            case _UploadChanged(summary=summary):
                self._upload = summary
            case _Problem(message=message):
                self._add_problem(message)
            case _Task(run=run):
                run()
            case _Shutdown():
                pass
            case _:
                self._feed(item, from_user=False)

    def _feed(self, event: Event, *, from_user: bool) -> None:
        session_before = self._machine.session
        for command in self._machine.handle(event):
            self._carry_out(command, from_user=from_user)
        if session_before is not None and self._machine.session is None:
            self._log_session_over(session_before)
        if isinstance(event, Pause | Resume):
            capturing = self._capturing()
            if capturing is not None:
                capturing.note_pause_sources(self._machine.paused_by)

    def _log_session_over(self, session: TrainingSession) -> None:
        used = self._machine.calls_used(session.session_id)
        if used >= session.quota:
            why = "all its calls are used"
        elif self._clock() >= session.expires_at:
            why = "it expired"
        else:
            why = "the trainer ended it"
        log.info(
            "training session %s is over for this agent: %s (%d recorded here)",
            session.session_id,
            why,
            used,
        )

    def _carry_out(self, command: Command, *, from_user: bool) -> None:
        log.debug("command %r", command)
        match command:
            case ShowNotice():
                self._show_notice(command)
            case HideNotice(recording_id=rid):
                self._hide_notice(rid)
            case StartCapture():
                self._start_capture(command)
            case PauseCapture(recording_id=rid):
                self._pipeline(rid).pause(self._machine.paused_by)
            case ResumeCapture(recording_id=rid):
                self._pipeline(rid).resume()
            case StopCapture(recording_id=rid, outcome=outcome):
                self._stop_capture(rid, outcome)
            case DestroyRecording(recording_id=rid, reason=reason):
                removed = self._spool.discard_recording(rid)
                log.info("recording %s destroyed (%s): %d segments", rid, reason.value, removed)
                self._view.tell("Nothing of this call is kept.")
            case RecordConsent(recording_id=rid, decision=decision):
                log.info("recording %s: consent %s", rid, decision)
                self._note_consent(rid, decision)
            case SetTimer(timer=kind, recording_id=rid, fire_at=fire_at):
                self._set_timer(kind, rid, fire_at)
            case CancelTimer(timer=kind, recording_id=rid):
                self._cancel_timer(kind, rid)
            case Rejected(event=event, reason=reason):
                if from_user:
                    self._view.tell(reason)
                else:
                    log.info("not applied: %r (%s)", event, reason)
            case ReportError(reason=reason):
                self._add_problem(reason)

    # --- notice and capture ------------------------------------------------------------

    def _show_notice(self, command: ShowNotice) -> None:
        rid = command.recording_id
        recording = _Recording(
            rid, None, command.lead_time_s, show_deadline=time.monotonic() + NOTICE_SHOW_TIMEOUT_S
        )
        self._recordings[rid] = recording
        self._ask_for_notice(command)
        self._publish()  # the tray says "notice" with the notice, not once the devices are up
        # Prepared while the UI thread draws the notice: the lead time counts from the notice
        # on screen, so the devices' set-up no longer delays the recording's first frame.
        try:
            pipeline = self._capture.create(rid)
            pipeline.prepare()  # audio settles during the notice (see CapturePipeline.prepare)
            if command.consent_required:
                pipeline.note_consent(ConsentRecord(mode=ConsentMode.REQUIRED))
        except Exception as exc:
            log.exception("could not prepare capture for %s", rid)
            self._add_problem(f"capture could not be prepared: {exc}")
        else:
            recording.pipeline = pipeline

    def _ask_for_notice(self, command: ShowNotice) -> None:
        rid = command.recording_id
        session = command.session
        entry = self._sessions.current.get(session.session_id)
        self._view.show_notice(
            NoticeContent(
                recording_id=rid,
                purpose=session.purpose,
                trainer=session.trainer,
                notice_text=session.notice_text,
                captured_window=self._capture.captured_window,
                captured_audio=self._capture.captured_audio,
                keep_days=0 if entry is None else entry.keep_days,
                delete_days=0 if entry is None else entry.delete_days,
                lead_time_s=command.lead_time_s,
                consent_required=command.consent_required,
                consent_timeout_s=self._machine.policy.consent_timeout_s,
                personal_allowed=command.personal_allowed,
            )
        )

    def _notice_on_screen(self, rid: RecordingId, at: float) -> None:
        recording = self._recordings.get(rid)
        if recording is None or recording.shown_at is not None:
            return
        recording.shown_at = at
        log.info("notice for %s on screen at %.3f", rid, at)
        for kind in list(recording.from_the_notice):
            self._schedule_from_the_notice(recording, kind)

    def _schedule_from_the_notice(self, recording: _Recording, kind: TimerKind) -> None:
        """Fire no earlier than the machine asked, nor than the notice has been on screen for
        its time: the machine allows timers to be late, never early."""
        if recording.shown_at is None:
            return
        rid = recording.recording_id
        event: Event
        if kind is TimerKind.NOTICE_LEAD:
            duration, event = recording.lead_time_s, NoticeElapsed(rid)
        else:
            duration, event = self._machine.policy.consent_timeout_s, ConsentTimedOut(rid)
        fire_at = max(recording.from_the_notice[kind], recording.shown_at + duration)
        self._timers.schedule(kind, rid, fire_at, event)

    def _hide_notice(self, rid: RecordingId) -> None:
        self._view.hide_notice(rid)
        recording = self._recordings.get(rid)
        if recording is None:
            return
        if not recording.started:
            if recording.pipeline is not None:
                recording.pipeline.cancel()
            del self._recordings[rid]
        elif recording.stopped:
            del self._recordings[rid]

    def _start_capture(self, command: StartCapture) -> None:
        rid = command.recording_id
        recording = self._recordings.get(rid)
        if recording is None or recording.pipeline is None:
            self.post(CaptureError("capture could not be prepared; see the agent's log"))
            return
        recording.started = True
        started_at = self._clock()
        self._spool.set_recording_session(rid, command.session_id, started_at)
        try:
            paused_by = self._machine.paused_by if command.start_paused else frozenset()
            recording.pipeline.start(paused_by=paused_by)
        except Exception as exc:
            log.exception("capture of %s failed to start", rid)
            self.post(CaptureError(f"capture failed to start: {exc}"))
            return
        log.info("capture of %s started at %.3f", rid, started_at)

    def _stop_capture(self, rid: RecordingId, outcome: Outcome) -> None:
        recording = self._recordings.get(rid)
        if recording is None or recording.pipeline is None or recording.stopped:
            self.post(CaptureStopped(rid))
            return
        recording.stopped = True
        summary = recording.pipeline.stop()
        if outcome is Outcome.INTERRUPTED and summary.error is None:
            self._spool.set_recording_state(rid, RecordingState.INTERRUPTED)
        log.info(
            "capture of %s stopped (%s) at %.3f: first frame at %.3f, %d segments, stop took"
            " %.0f ms",
            rid,
            outcome.value,
            self._clock(),
            summary.first_frame_at or 0.0,
            summary.segments,
            summary.stop_phases.get("total", 0.0) * 1000,
        )
        self.post(CaptureStopped(rid))
        self._on_capture_settled()

    def _capturing(self) -> CapturePipeline | None:
        """The pipeline of the recording being captured now, if any."""
        for recording in list(self._recordings.values()):
            pipeline = recording.pipeline
            if recording.started and not recording.stopped and pipeline is not None:
                return pipeline
        return None

    def _note_consent(self, rid: RecordingId, decision: ConsentDecision) -> None:
        recording = self._recordings.get(rid)
        if recording is None or recording.pipeline is None or recording.stopped:
            return  # destroyed, or stopped before anyone decided: no recording to keep it
        recording.pipeline.note_consent(
            ConsentRecord(
                mode=ConsentMode.REQUIRED,
                decision=decision,
                by=self._agent_name or None,
                at=datetime.now(UTC),
            )
        )

    def _pipeline(self, rid: RecordingId) -> CapturePipeline:
        recording = self._recordings.get(rid)
        if recording is None or recording.pipeline is None:
            raise RuntimeError(f"no capture pipeline for recording {rid}")
        return recording.pipeline

    def _check_capture(self) -> None:
        now = time.monotonic()
        for recording in list(self._recordings.values()):
            pipeline = recording.pipeline
            if (
                recording.started
                and not recording.stopped
                and not recording.error_reported
                and pipeline is not None
                and pipeline.error is not None
            ):
                recording.error_reported = True
                self._feed(CaptureError(pipeline.error), from_user=False)
            if (
                recording.shown_at is None
                and not recording.started
                and now > (recording.show_deadline)
            ):
                recording.show_deadline = float("inf")  # say it once
                self._add_problem(
                    "the recording notice could not be shown, so this call is not recorded"
                )

    def _stop_all_capture(self) -> None:
        for recording in list(self._recordings.values()):
            pipeline = recording.pipeline
            if pipeline is None:
                continue
            if recording.started and not recording.stopped:
                recording.stopped = True
                pipeline.stop()
                self._spool.set_recording_state(recording.recording_id, RecordingState.INTERRUPTED)
            elif not recording.started:
                pipeline.cancel()

    # --- timers --------------------------------------------------------------------------

    def _set_timer(self, kind: TimerKind, rid: RecordingId | None, fire_at: float) -> None:
        if kind in _FROM_THE_NOTICE and rid is not None:
            recording = self._recordings.get(rid)
            if recording is None:
                return
            recording.from_the_notice[kind] = fire_at
            self._schedule_from_the_notice(recording, kind)
            return
        if kind is TimerKind.SESSION_EXPIRY and self._machine.session is not None:
            self._timers.schedule(
                kind, rid, fire_at, SessionExpired(self._machine.session.session_id)
            )

    def _cancel_timer(self, kind: TimerKind, rid: RecordingId | None) -> None:
        self._timers.cancel(kind, rid)
        recording = None if rid is None else self._recordings.get(rid)
        if recording is not None:
            recording.from_the_notice.pop(kind, None)

    def _fire_due_timers(self) -> None:
        while (event := self._timers.pop_due()) is not None:
            self._feed(event, from_user=False)

    # --- sessions from the vault ---------------------------------------------------------

    def _sessions_polled(self, sessions: list[TrainingSessionView]) -> None:
        self._sessions.apply(
            sessions,
            self._machine,
            self._spool.unregistered_calls_by_session(),
            lambda event: self._feed(event, from_user=False),
        )

    # --- status --------------------------------------------------------------------------

    def _add_problem(self, message: str) -> None:
        log.error("%s", message)
        self._problems = [*self._problems, message][-MAX_PROBLEMS_SHOWN:]
        self._view.tell(message)

    def _build_status(self) -> AgentStatus:
        machine = self._machine
        session = machine.session
        summary = None
        if session is not None:
            summary = SessionSummary(
                session.session_id,
                session.purpose,
                session.trainer,
                max(0, session.quota - machine.calls_recorded),
                session.expires_at,
            )
        return AgentStatus(
            state=machine.state,
            session=summary,
            paused_by=machine.paused_by,
            backlog_segments=self._upload.backlog_segments,
            backlog_bytes=self._upload.backlog_bytes,
            upload_note=self._upload.note,
            problems=(*self._problems, *self._upload.problems),
            settings=self._settings_shown,
        )

    def _publish(self, *, force: bool = False) -> None:
        status = self._build_status()
        self.status = status
        if force or status != self._last_status:
            self._last_status = status
            self._view.show_status(status)

    # --- the agent's own recordings ------------------------------------------------------

    def _open_console(self) -> None:
        if self._vault is None:
            self._view.tell(
                "There is no vault to show your recordings: this machine is not enrolled."
            )
            return
        try:
            url = self._vault.console_sign_in_url()
        except Exception as exc:  # noqa: BLE001 - said to the agent, who can try again
            self._view.tell(f"Could not open your recordings in the browser: {exc}")
            return
        self._view.open_link(url)

    def _load_recordings(self) -> None:
        shown = recordings_shown(
            self._spool, self._vault, lambda message: self.post(_Problem(message))
        )
        self._view.show_recordings(shown)
