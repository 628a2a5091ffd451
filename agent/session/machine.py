"""The recording state machine: the single place that decides whether capture may run.

States
    NO_SESSION  No training session covers this agent. Nothing is ever captured (R1).
    ARMED       A session is active and has calls left; the next call that goes off-hook is
                announced.
    NOTICE      A call went off-hook while armed. The notice is on screen and its lead time
                is running; nothing is captured yet (R3).
    RECORDING   The notice has been on screen for its lead time; capture runs (R2).
    PAUSED      Capture runs but stores no pixels and no sound while any pause source is
                active: tray, hotkey, command line, or a payment window (R6).
    FINISHING   Capture has been told to stop and the recording is kept; waiting for the
                pipeline to confirm with CaptureStopped.
    DISCARDED   Nothing of the call in progress is kept (a personal call, R4, or a caller who
                did not consent, R5); waiting for it to end.

Invariant (docs/design.md, invariant 1)
    StartCapture is emitted only on the way from NOTICE to RECORDING/PAUSED, which needs an
    active, unexpired session with calls left, a call whose off-hook came while that session
    was armed, and a notice for that very recording id shown at least the lead time ago.
    Expiry is checked against the clock before every event is handled, so a late timer can
    never open a capture after the session expired. Every way out of a call or a session
    (hang-up, session ended or expired, personal call, consent refused, capture failure)
    emits StopCapture in the same ``handle()`` result.

Rules that keep the invariant honest
    - Only a call whose off-hook arrives while ARMED (or while FINISHING, for the same
      session) is announced; a call already up when a session starts is never recorded, and
      a repeated off-hook is taken as another detector reporting the same call.
    - A session declared ended, expired or out of quota stays closed, even if its start is
      delivered again later; calls recorded are counted per session, so a session that was
      replaced and comes back does not start its quota over.
    - Pause sources are tracked in every state, so a payment window already open when the
      call starts keeps the very first frame dark.
    - With consent required, a recording is kept only if consent was confirmed before its
      capture stopped; otherwise it is destroyed (the end of capture is the latest deadline).
      A refusal, or a personal-call declaration, also destroys a recording of the call in
      progress whose capture has already stopped (after a capture failure), and a destroyed
      recording does not use the quota.
    - The notice stays up from ShowNotice until the recording ends: HideNotice follows every
      StopCapture as well as every notice withdrawn before capture.

The machine is pure: no I/O, no threads, no sleeping. ``handle(event)`` returns the effects
as commands, in the order they must be carried out. Time comes from one injected clock
(epoch seconds, because session expiry is a wall time from the vault). Timers are requested
with SetTimer (which replaces any timer of the same kind and recording id) and cancelled
with CancelTimer; when one fires, the caller feeds NoticeElapsed(recording_id),
ConsentTimedOut(recording_id) or SessionExpired(session_id). Timer events that arrive early
or for another recording are ignored, so a timer can be late but never premature.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import assert_never

from agent.session.vocabulary import (
    EVENT_TYPES,
    MANUAL_PAUSE_SOURCES,
    CallPolicy,
    CancelTimer,
    CaptureError,
    CaptureStopped,
    Command,
    ConsentConfirmed,
    ConsentDeclined,
    ConsentTimedOut,
    DestroyRecording,
    DiscardReason,
    Event,
    HideNotice,
    NoticeElapsed,
    OffHook,
    OnHook,
    Outcome,
    Pause,
    PauseCapture,
    PersonalCallDeclared,
    QuotaUsedUp,
    RecordConsent,
    RecordingId,
    Rejected,
    ReportError,
    Resume,
    ResumeCapture,
    SessionEnded,
    SessionExpired,
    SessionStarted,
    SetTimer,
    ShowNotice,
    StartCapture,
    State,
    StopCapture,
    TimerKind,
    TrainingSession,
)
from protocol.recording_vocabulary import ConsentDecision, PauseSource


@dataclass(frozen=True, slots=True)
class _KeptRecording:
    recording_id: RecordingId
    session_id: str


class _Consent(Enum):
    NOT_ASKED = "not_asked"
    PENDING = "pending"
    CONFIRMED = "confirmed"
    REFUSED = "refused"


@dataclass(slots=True)
class _CallFlags:
    """The call on the line, and what the agent said about the next one."""

    in_progress: bool = False
    excluded: bool = False
    """Nothing of the call in progress may be kept (declared personal, consent refused)."""
    next_personal: bool = False
    """Declared personal before it went off-hook."""
    next_waiting: bool = False
    """It went off-hook while FINISHING; it is announced once the stop is confirmed."""
    kept_recording: _KeptRecording | None = None
    """A kept recording whose call is still up (capture failed or the session ended mid-call):
    a personal-call declaration or a refusal can still take it back."""


@dataclass(slots=True)
class _RecordingFlags:
    """The recording announced for the call in progress, from its notice to its stop."""

    recording_id: RecordingId | None = None
    session_id: str = ""
    notice_shown_at: float = 0.0
    consent: _Consent = _Consent.NOT_ASKED
    consent_deadline: float = 0.0
    finishing_kept: bool = False
    """Capture is stopping and the recording is kept (FINISHING)."""


_CAPTURING = frozenset({State.RECORDING, State.PAUSED})
_CALL_BOUND = frozenset(
    {State.NOTICE, State.RECORDING, State.PAUSED, State.FINISHING, State.DISCARDED}
)

PERSONAL_CALLS_FORBIDDEN = (
    "Your organisation's recording policy does not allow marking calls as personal."
)
NO_SESSION_ACTIVE = "No training session is active, so calls are not being recorded."
UNEXPECTED_CAPTURE_STOP = "Capture stopped without being asked to."


def _random_recording_id() -> RecordingId:
    return uuid.uuid4()


class RecordingStateMachine:
    """Turns events into commands; see the module docstring for the states."""

    def __init__(
        self,
        policy: CallPolicy,
        clock: Callable[[], float],
        new_recording_id: Callable[[], RecordingId] = _random_recording_id,
    ) -> None:
        self._policy = policy
        self._clock = clock
        self._new_recording_id = new_recording_id
        self._now = 0.0  # one clock reading per handled event, so every decision agrees

        self._state = State.NO_SESSION
        self._session: TrainingSession | None = None
        # A different session that arrived mid-call; it takes over when the call is done.
        self._pending_session: TrainingSession | None = None
        # Ended, expired or exhausted sessions: a re-delivered start must not reset the quota.
        self._closed_session_ids: set[str] = set()
        self._quota_used_up = False
        # Kept per session, so a session that was replaced and comes back does not start over.
        self._calls_recorded_by_session: dict[str, int] = {}
        self._last_session_id = ""  # whose count calls_recorded shows once no session is left

        self._call = _CallFlags()
        self._recording = _RecordingFlags()

        # Tracked in every state: a payment window already open when a call starts must
        # protect the first frame.
        self._pause_sources: set[PauseSource] = set()

    @property
    def state(self) -> State:
        return self._state

    @property
    def session(self) -> TrainingSession | None:
        return self._session

    @property
    def recording_id(self) -> RecordingId | None:
        return self._recording.recording_id

    @property
    def calls_recorded(self) -> int:
        """Calls kept under the session in force (or under the last one, once it is over)."""
        return self._calls_recorded_by_session.get(self._last_session_id, 0)

    def calls_used(self, session_id: str) -> int:
        """Calls of `session_id`'s quota this machine has used: those kept, and the one being
        captured now (or stopping to be kept), whose recording the spool already holds."""
        being_kept = self._recording.session_id == session_id and (
            self._state in _CAPTURING
            or (self._state is State.FINISHING and self._recording.finishing_kept)
        )
        return self._calls_recorded_by_session.get(session_id, 0) + int(being_kept)

    @property
    def paused_by(self) -> frozenset[PauseSource]:
        return frozenset(self._pause_sources)

    @property
    def policy(self) -> CallPolicy:
        return self._policy

    def handle(self, event: Event) -> list[Command]:
        """Apply one event; return the commands to carry out, in order."""
        if not isinstance(event, EVENT_TYPES):
            raise TypeError(f"not a session event: {event!r}")
        self._now = self._clock()
        commands = self._expire_if_due()
        commands += self._dispatch(event)
        return commands

    def _dispatch(self, event: Event) -> list[Command]:
        match event:
            case SessionStarted():
                return self._on_session_started(event)
            case SessionEnded(session_id=session_id) | SessionExpired(session_id=session_id):
                return self._on_session_over(session_id)
            case QuotaUsedUp(session_id=session_id):
                return self._on_quota_used_up(session_id)
            case Pause(source=source):
                return self._on_pause(source)
            case Resume(source=source):
                return self._on_resume(source)
            case PersonalCallDeclared() if not self._policy.personal_calls_allowed:
                return [Rejected(event, PERSONAL_CALLS_FORBIDDEN)]
            case PersonalCallDeclared() if self._call.kept_recording is not None:
                commands = self._take_back_kept_recording(DiscardReason.PERSONAL_CALL, None)
                self._call.excluded = True
                if self._state is State.ARMED:
                    self._state = State.DISCARDED
                return commands
            case ConsentDeclined(recording_id=rid) if (
                self._call.kept_recording is not None
                and rid == self._call.kept_recording.recording_id
            ):
                return self._take_back_kept_recording(
                    DiscardReason.CONSENT_DECLINED, ConsentDecision.DECLINED
                )
            case CaptureError(reason=reason) if self._state not in _CAPTURING:
                # No capture of ours is running, but a failure is never swallowed silently.
                return [ReportError(reason)]
            case (
                OffHook()
                | OnHook()
                | NoticeElapsed()
                | PersonalCallDeclared()
                | ConsentConfirmed()
                | ConsentDeclined()
                | ConsentTimedOut()
                | CaptureError()
                | CaptureStopped()
            ):
                return self._call_event(event)
            case _:
                assert_never(event)

    def _call_event(self, event: Event) -> list[Command]:
        match self._state:
            case State.NO_SESSION:
                return self._in_no_session(event)
            case State.ARMED:
                return self._in_armed(event)
            case State.NOTICE:
                return self._in_notice(event)
            case State.RECORDING | State.PAUSED:
                return self._in_capture(event)
            case State.FINISHING:
                return self._in_finishing(event)
            case State.DISCARDED:
                return self._in_discarded(event)
            case _:
                assert_never(self._state)

    # --- Per-state transitions for call events -----------------------------------------

    def _in_no_session(self, event: Event) -> list[Command]:
        match event:
            case OffHook() if not self._call.in_progress:
                self._call_started()
            case OnHook():
                self._call_ended()
            case PersonalCallDeclared():
                return [Rejected(event, NO_SESSION_ACTIVE)]
        return []

    def _in_armed(self, event: Event) -> list[Command]:
        match event:
            case OffHook() if not self._call.in_progress:
                # A repeated off-hook is another detector reporting the same call, and a call
                # that was already up when the session started must never be recorded.
                self._call_started()
                return self._take_call()
            case OnHook():
                self._call_ended()
            case PersonalCallDeclared():
                if self._call.in_progress:
                    # The agent means the call they are on, unrecorded as it is.
                    self._call.excluded = True
                    self._state = State.DISCARDED
                else:
                    self._call.next_personal = True
        return []

    def _in_notice(self, event: Event) -> list[Command]:
        recording_id = self._current_recording_id()
        match event:
            case OnHook():
                self._call_ended()
                return self._withdraw_notice() + self._settle()
            case NoticeElapsed(recording_id=rid) if rid == recording_id and self._notice_is_due():
                return self._start_capture()
            case PersonalCallDeclared():
                commands = self._withdraw_notice()
                self._discard_call()
                return commands
            case ConsentConfirmed(recording_id=rid) if rid == recording_id:
                return self._confirm_consent()
            case ConsentDeclined(recording_id=rid) if rid == recording_id:
                commands = self._withdraw_notice()
                commands.append(RecordConsent(recording_id, ConsentDecision.DECLINED))
                self._recording.consent = _Consent.REFUSED
                self._discard_call()
                return commands
            case ConsentTimedOut(recording_id=rid) if (
                rid == recording_id and self._consent_is_due()
            ):
                self._recording.consent = _Consent.REFUSED  # its timer has fired: nothing to cancel
                commands = self._withdraw_notice()
                commands.append(RecordConsent(recording_id, ConsentDecision.TIMED_OUT))
                self._discard_call()
                return commands
        return []

    def _in_capture(self, event: Event) -> list[Command]:
        recording_id = self._current_recording_id()
        match event:
            case OnHook():
                self._call_ended()
                return self._stop_and_keep(Outcome.COMPLETE)
            case CaptureError(reason=reason):
                return self._stop_and_keep(Outcome.INTERRUPTED, error=reason)
            case CaptureStopped(recording_id=rid) if rid == recording_id:
                # The pipeline already stopped: StopCapture keeps every party's view of
                # "capture running" in step, and the recording is settled at once.
                commands = self._stop_and_keep(Outcome.INTERRUPTED, error=UNEXPECTED_CAPTURE_STOP)
                if self._state is State.FINISHING:
                    commands += self._capture_stopped()
                return commands
            case PersonalCallDeclared():
                return self._stop_and_destroy(DiscardReason.PERSONAL_CALL, decision=None)
            case ConsentConfirmed(recording_id=rid) if rid == recording_id:
                return self._confirm_consent()
            case ConsentDeclined(recording_id=rid) if rid == recording_id:
                return self._stop_and_destroy(
                    DiscardReason.CONSENT_DECLINED, ConsentDecision.DECLINED
                )
            case ConsentTimedOut(recording_id=rid) if (
                rid == recording_id and self._consent_is_due()
            ):
                self._recording.consent = _Consent.REFUSED  # its timer has fired: nothing to cancel
                return self._stop_and_destroy(
                    DiscardReason.CONSENT_TIMED_OUT, ConsentDecision.TIMED_OUT
                )
        return []

    def _in_finishing(self, event: Event) -> list[Command]:
        recording_id = self._current_recording_id()
        match event:
            case OffHook() if not self._call.in_progress:
                self._call_started()
                self._call.next_waiting = True
            case OnHook():
                self._call_ended()
            case CaptureStopped(recording_id=rid) if rid == recording_id:
                return self._capture_stopped()
            case PersonalCallDeclared():
                if not self._call.in_progress:
                    self._call.next_personal = True
                    return []
                self._call.excluded = True
                if not self._call.next_waiting and self._recording.finishing_kept:
                    # Still on the call just recorded: "nothing of it is kept" (R4).
                    self._recording.finishing_kept = False
                    return [DestroyRecording(recording_id, DiscardReason.PERSONAL_CALL)]
            case ConsentDeclined(recording_id=rid) if (
                rid == recording_id and self._recording.finishing_kept
            ):
                self._recording.finishing_kept = False
                return [
                    RecordConsent(recording_id, ConsentDecision.DECLINED),
                    DestroyRecording(recording_id, DiscardReason.CONSENT_DECLINED),
                ]
        return []

    def _in_discarded(self, event: Event) -> list[Command]:
        match event:
            case OnHook():
                self._call_ended()
                return self._settle()
        return []

    # --- Session lifecycle (every state) -----------------------------------------------

    def _expire_if_due(self) -> list[Command]:
        if self._session is not None and self._now >= self._session.expires_at:
            return self._on_session_over(self._session.session_id)
        return []

    def _on_session_started(self, event: SessionStarted) -> list[Command]:
        session = event.session
        if session.session_id in self._closed_session_ids:
            return [
                Rejected(
                    event,
                    f"Training session {session.session_id} has already ended "
                    "and cannot be started again.",
                )
            ]
        if self._now >= session.expires_at:
            return [
                Rejected(event, f"Training session {session.session_id} expired before it began.")
            ]
        if self._session is not None and self._session.session_id == session.session_id:
            return self._update_session(session)
        if not self._has_calls_left(session):
            # Replaced mid-way and now sent again: the calls it recorded still count.
            return [Rejected(event, f"Training session {session.session_id} has no calls left.")]
        if self._state in _CALL_BOUND:
            self._pending_session = session
            return []
        return self._adopt(session)

    def _update_session(self, session: TrainingSession) -> list[Command]:
        """The same session again (re-delivered or amended): the calls recorded still count."""
        self._session = session
        commands: list[Command] = [SetTimer(TimerKind.SESSION_EXPIRY, None, session.expires_at)]
        if not self._session_has_room():
            commands += self._no_more_calls()
        return commands

    def _adopt(self, session: TrainingSession) -> list[Command]:
        self._session = session
        self._last_session_id = session.session_id
        self._quota_used_up = False
        self._state = State.ARMED
        return [SetTimer(TimerKind.SESSION_EXPIRY, None, session.expires_at)]

    def _close_session_id(self, session_id: str) -> bool:
        """Remember that a session is over; return whether it is the one in force.

        Any session's end is remembered, not only the current one's: a start that arrives
        later (out of order, or re-delivered) must not bring it back.
        """
        self._closed_session_ids.add(session_id)
        if self._pending_session is not None and self._pending_session.session_id == session_id:
            self._pending_session = None
        return self._session is not None and self._session.session_id == session_id

    def _on_session_over(self, session_id: str) -> list[Command]:
        if not self._close_session_id(session_id):
            return []
        match self._state:
            case State.RECORDING | State.PAUSED:
                # The call is still up, so this lands in FINISHING or DISCARDED, where the end
                # of the call (or of the stop) picks what comes next.
                commands = self._stop_and_keep(Outcome.INTERRUPTED)
                return commands + self._release_session()
            case State.NOTICE:
                # The call is still up but was never captured; it stays unrecorded.
                commands = self._withdraw_notice() + self._release_session()
                return commands + self._settle()
            case State.ARMED | State.NO_SESSION:
                return self._drop_session()
            case State.FINISHING | State.DISCARDED:
                return self._release_session()
            case _:
                assert_never(self._state)

    def _on_quota_used_up(self, session_id: str) -> list[Command]:
        if not self._close_session_id(session_id):
            return []
        self._quota_used_up = True
        return self._no_more_calls()

    def _no_more_calls(self) -> list[Command]:
        """The session may record no new call; a call already being captured finishes."""
        match self._state:
            case State.ARMED:
                return self._drop_session()
            case State.NOTICE:
                return self._withdraw_notice() + self._settle()
            case _:
                return []

    def _session_has_room(self) -> bool:
        return (
            self._session is not None
            and not self._quota_used_up
            and self._has_calls_left(self._session)
        )

    def _has_calls_left(self, session: TrainingSession) -> bool:
        return self._calls_recorded_by_session.get(session.session_id, 0) < session.quota

    def _release_session(self) -> list[Command]:
        """Forget the session for good, without changing state."""
        if self._session is None:
            return []
        self._closed_session_ids.add(self._session.session_id)
        self._session = None
        self._quota_used_up = False
        return [CancelTimer(TimerKind.SESSION_EXPIRY, None)]

    def _drop_session(self) -> list[Command]:
        commands = self._release_session()
        self._state = State.NO_SESSION
        return commands

    def _settle(self) -> list[Command]:
        """The current call needs nothing more from capture: pick what governs the next."""
        self._recording.recording_id = None
        take_waiting_call = self._call.next_waiting
        self._call.next_waiting = False
        if self._pending_session is not None:
            pending = self._pending_session
            self._pending_session = None
            if self._now < pending.expires_at:
                # Any call in progress went off-hook before this session began, so it stays
                # unrecorded: the machine is ARMED for the next one.
                return self._adopt(pending)
        if not self._session_has_room():
            return self._drop_session()
        self._state = State.ARMED
        if self._call.in_progress:
            if take_waiting_call:
                return self._take_call()
            if self._call.excluded:
                self._state = State.DISCARDED
        return []

    # --- Calls, notice, capture --------------------------------------------------------

    def _call_started(self) -> None:
        self._call.kept_recording = None
        self._call.in_progress = True
        self._call.excluded = self._call.next_personal
        self._call.next_personal = False

    def _call_ended(self) -> None:
        self._call.kept_recording = None
        self._call.in_progress = False
        self._call.excluded = False
        self._call.next_waiting = False

    def _take_call(self) -> list[Command]:
        """A new call went off-hook under an armed session with calls left."""
        if self._call.excluded:
            self._state = State.DISCARDED  # declared personal beforehand: no notice, no capture
            return []
        session = self._active_session()
        recording_id = self._new_recording_id()
        lead_time_s = self._policy.notice_lead_time_s
        self._state = State.NOTICE
        self._recording.recording_id = recording_id
        self._recording.notice_shown_at = self._now
        commands: list[Command] = [
            ShowNotice(
                recording_id,
                session,
                lead_time_s,
                self._policy.consent_required,
                self._policy.personal_calls_allowed,
            ),
            SetTimer(TimerKind.NOTICE_LEAD, recording_id, self._now + lead_time_s),
        ]
        if self._policy.consent_required:
            self._recording.consent = _Consent.PENDING
            self._recording.consent_deadline = self._now + self._policy.consent_timeout_s
            commands.append(
                SetTimer(TimerKind.CONSENT_DEADLINE, recording_id, self._recording.consent_deadline)
            )
        else:
            self._recording.consent = _Consent.NOT_ASKED
        return commands

    def _notice_is_due(self) -> bool:
        return self._now >= self._recording.notice_shown_at + self._policy.notice_lead_time_s

    def _consent_is_due(self) -> bool:
        return (
            self._recording.consent is _Consent.PENDING
            and self._now >= self._recording.consent_deadline
        )

    def _withdraw_notice(self) -> list[Command]:
        """Take the notice down before capture started; nothing was captured."""
        recording_id = self._current_recording_id()
        commands: list[Command] = [
            HideNotice(recording_id),
            CancelTimer(TimerKind.NOTICE_LEAD, recording_id),
        ]
        if self._recording.consent is _Consent.PENDING:
            commands.append(CancelTimer(TimerKind.CONSENT_DEADLINE, recording_id))
        return commands

    def _discard_call(self) -> None:
        self._recording.recording_id = None
        self._call.excluded = True
        self._state = State.DISCARDED

    def _start_capture(self) -> list[Command]:
        session = self._active_session()
        recording_id = self._current_recording_id()
        # A pause requested during the notice protects card data from the very first frame.
        start_paused = bool(self._pause_sources)
        self._state = State.PAUSED if start_paused else State.RECORDING
        self._recording.session_id = session.session_id
        return [StartCapture(recording_id, session.session_id, session.purpose, start_paused)]

    def _confirm_consent(self) -> list[Command]:
        if self._recording.consent in (_Consent.CONFIRMED, _Consent.REFUSED):
            return []
        recording_id = self._current_recording_id()
        commands: list[Command] = [RecordConsent(recording_id, ConsentDecision.CONFIRMED)]
        if self._recording.consent is _Consent.PENDING:
            commands.append(CancelTimer(TimerKind.CONSENT_DEADLINE, recording_id))
        self._recording.consent = _Consent.CONFIRMED
        return commands

    def _stop_and_keep(self, outcome: Outcome, error: str | None = None) -> list[Command]:
        """Stop capture for a reason that keeps the recording: hang-up, failure, session over."""
        recording_id = self._current_recording_id()
        commands: list[Command] = [StopCapture(recording_id, outcome)]
        if error is not None:
            commands.append(ReportError(error))
        if self._recording.consent is _Consent.PENDING:
            # A recording is kept only with confirmed consent, and nobody can confirm for a
            # capture that has stopped: its end is the latest possible deadline (R5).
            commands += [
                RecordConsent(recording_id, ConsentDecision.TIMED_OUT),
                DestroyRecording(recording_id, DiscardReason.CONSENT_TIMED_OUT),
                CancelTimer(TimerKind.CONSENT_DEADLINE, recording_id),
                HideNotice(recording_id),
            ]
            self._recording.consent = _Consent.REFUSED
            if self._call.in_progress:
                self._discard_call()
                return commands
            return commands + self._settle()
        commands.append(HideNotice(recording_id))
        self._state = State.FINISHING
        self._recording.finishing_kept = True
        return commands

    def _stop_and_destroy(
        self, reason: DiscardReason, decision: ConsentDecision | None
    ) -> list[Command]:
        """Stop capture and destroy everything captured of this call (R4, R5)."""
        recording_id = self._current_recording_id()
        commands: list[Command] = [StopCapture(recording_id, Outcome.INTERRUPTED)]
        if decision is not None:
            commands.append(RecordConsent(recording_id, decision))
        commands.append(DestroyRecording(recording_id, reason))
        if self._recording.consent is _Consent.PENDING:
            commands.append(CancelTimer(TimerKind.CONSENT_DEADLINE, recording_id))
        commands.append(HideNotice(recording_id))
        self._recording.consent = _Consent.REFUSED
        self._discard_call()
        return commands

    def _capture_stopped(self) -> list[Command]:
        if self._recording.finishing_kept:
            session_id = self._recording.session_id
            self._calls_recorded_by_session[session_id] = (
                self._calls_recorded_by_session.get(session_id, 0) + 1
            )
            if self._call.in_progress and not self._call.next_waiting:
                self._call.kept_recording = _KeptRecording(self._current_recording_id(), session_id)
        return self._settle()

    def _take_back_kept_recording(
        self, reason: DiscardReason, decision: ConsentDecision | None
    ) -> list[Command]:
        """Destroy the recording of the call still in progress; it no longer uses the quota."""
        kept = self._call.kept_recording
        if kept is None:
            return []
        self._call.kept_recording = None
        self._calls_recorded_by_session[kept.session_id] -= 1
        commands: list[Command] = []
        if decision is not None:
            commands.append(RecordConsent(kept.recording_id, decision))
        commands.append(DestroyRecording(kept.recording_id, reason))
        return commands

    # --- Pause sources (every state) ---------------------------------------------------

    def _on_pause(self, source: PauseSource) -> list[Command]:
        self._pause_sources.add(source)
        if self._state is State.RECORDING:
            self._state = State.PAUSED
            return [PauseCapture(self._current_recording_id())]
        return []

    def _on_resume(self, source: PauseSource) -> list[Command]:
        if source in MANUAL_PAUSE_SOURCES:
            # One manual resume undoes every manual pause: the agent has one "resume" button.
            self._pause_sources -= MANUAL_PAUSE_SOURCES
        else:
            # Only the payment window itself closing lifts the automatic pause.
            self._pause_sources.discard(source)
        if self._state is State.PAUSED and not self._pause_sources:
            self._state = State.RECORDING
            return [ResumeCapture(self._current_recording_id())]
        return []

    # --- Internal consistency ----------------------------------------------------------

    def _active_session(self) -> TrainingSession:
        if self._session is None:
            raise RuntimeError(f"no active session in state {self._state.name}")
        return self._session

    def _current_recording_id(self) -> RecordingId:
        if self._recording.recording_id is None:
            raise RuntimeError(f"no current recording in state {self._state.name}")
        return self._recording.recording_id
