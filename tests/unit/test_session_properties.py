"""Property tests: random event scripts against an independent observer of the invariant.

The observer never asks the machine what is allowed. It follows the events it fed (sessions
started and ended, hook changes, pause sources, the clock) and the commands that came back
(notices shown and hidden, captures started, paused, stopped and destroyed), and checks
docs/design.md, invariant 1 and R1-R6 from the outside.

Scripts are Hypothesis rule-based state machines rather than lists of steps: they run the
full number of steps and still shrink a failure down to the few steps that matter.
"""

from __future__ import annotations

import dataclasses
import itertools
import uuid
from dataclasses import dataclass, field
from typing import TypeVar

from hypothesis import Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule

from agent.session.machine import RecordingStateMachine
from agent.session.vocabulary import (
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
    Pause,
    PauseCapture,
    PersonalCallDeclared,
    QuotaUsedUp,
    RecordConsent,
    Rejected,
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
from tests.helpers.recording_ids import rec

START = 1_700_000_000.0
CONSENT_DECISION_FOR = {
    DiscardReason.CONSENT_DECLINED: ConsentDecision.DECLINED,
    DiscardReason.CONSENT_TIMED_OUT: ConsentDecision.TIMED_OUT,
}
CURRENT = rec(0xC0FFEE)
"""Stands for whichever recording is current when the action is played."""
NO_RECORDING = rec(0)
"""Placeholder resolved, when fed, to the machine's current recording id (if any)."""

# Sized for well under 20 s on a 2-core machine (about 10 s measured). The explain phase is out:
# on scripts this long it costs minutes for "or any other generated value" comments.
SCRIPT_SETTINGS = settings(
    max_examples=300,
    stateful_step_count=40,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
)


@dataclass(frozen=True, slots=True)
class FireNextTimer:
    """Advance the clock to the next notice or consent timer and deliver its event."""


@dataclass(frozen=True, slots=True)
class FireSessionExpiry:
    """Advance the clock to the session expiry timer and deliver SessionExpired."""


Action = Event | FireNextTimer | FireSessionExpiry
T = TypeVar("T")


def weighted(*choices: tuple[int, st.SearchStrategy[T]]) -> st.SearchStrategy[T]:
    """Choose among strategies in proportion to their weights.

    one_of picks its branches evenly and merges a branch given twice, so each weight becomes
    that many distinct copies. Even odds would end most sessions before a single call has
    been recorded.
    """
    return st.one_of(
        [strategy.map(_unchanged) for weight, strategy in choices for _ in range(weight)]
    )


def _unchanged(value: T) -> T:
    return value


# --- Strategies ------------------------------------------------------------------------

session_ids = st.sampled_from(["s1", "s2", "s3", "s4", "s5", "s6"])
recording_ids = st.sampled_from([CURRENT, CURRENT, CURRENT, rec(1), rec(2), rec(99)])
call_ids = st.sampled_from([None, "call-a", "call-b"])
# Mostly short gaps, so that sessions outlive a few calls; now and then a long one.
short_seconds = st.sampled_from([0.0, 0.5, 1.0, 2.0, 5.0, 10.0]) | st.floats(0.0, 10.0)
seconds = weighted((24, short_seconds), (1, st.sampled_from([30.0, 120.0, 600.0])))

policies = st.builds(
    CallPolicy,
    notice_lead_time_s=st.sampled_from([0.0, 1.0, 5.0]) | st.floats(0.0, 20.0),
    consent_required=st.booleans(),
    consent_timeout_s=st.sampled_from([2.0, 30.0]) | st.floats(0.1, 60.0),
    personal_calls_allowed=st.booleans(),
)


def sessions(
    expires_in: st.SearchStrategy[float], quota: st.SearchStrategy[int]
) -> st.SearchStrategy[TrainingSession]:
    """Sessions whose expires_at is relative to the clock; made absolute when fed."""
    return st.builds(
        TrainingSession,
        session_id=session_ids,
        purpose=st.just("training"),
        trainer=st.just("Tess Trainer"),
        quota=quota,
        expires_at=expires_in,
        notice_text=st.just(""),
    )


# Includes sessions that are already expired on arrival, or expire within one call.
any_sessions = sessions(
    st.sampled_from([0.0, 20.0, 120.0, 3600.0]) | st.floats(0.0, 300.0), st.integers(1, 3)
)
roomy_sessions = sessions(st.sampled_from([600.0, 3600.0]), st.integers(1, 4))
pause_sources = st.sampled_from(list(PauseSource))

# Every event kind, including stale or mismatched recording ids and premature timers.
any_actions: st.SearchStrategy[Action] = weighted(
    (6, st.just(FireNextTimer())),
    (4, st.builds(OffHook, call_ids)),
    (3, st.builds(OnHook, call_ids)),
    (3, st.builds(CaptureStopped, recording_ids)),
    (3, st.builds(SessionStarted, any_sessions)),
    (2, st.builds(NoticeElapsed, recording_ids)),
    (2, st.builds(Pause, pause_sources)),
    (2, st.builds(Resume, pause_sources)),
    (2, st.builds(ConsentConfirmed, recording_ids)),
    (1, st.builds(ConsentDeclined, recording_ids)),
    (1, st.builds(ConsentTimedOut, recording_ids)),
    (1, st.just(PersonalCallDeclared())),
    (1, st.builds(CaptureError, st.just("capture failed"))),
    (1, st.just(FireSessionExpiry())),
    (
        1,
        st.one_of(
            st.builds(SessionEnded, session_ids),
            st.builds(SessionExpired, session_ids),
            st.builds(QuotaUsedUp, session_ids),
        ),
    ),
)

# One session and many calls: no session events, so capture is reached far more often.
busy_call_actions: st.SearchStrategy[Action] = weighted(
    (4, st.just(FireNextTimer())),
    (3, st.builds(OffHook, call_ids)),
    (3, st.builds(OnHook, call_ids)),
    (3, st.builds(CaptureStopped, st.just(CURRENT))),
    (2, st.builds(Pause, pause_sources)),
    (2, st.builds(Resume, pause_sources)),
    (2, st.builds(ConsentConfirmed, st.just(CURRENT))),
    (1, st.builds(NoticeElapsed, st.just(CURRENT))),
    (1, st.builds(ConsentTimedOut, st.just(CURRENT))),
    (1, st.builds(ConsentDeclined, st.just(CURRENT))),
    (1, st.just(PersonalCallDeclared())),
    (1, st.builds(CaptureError, st.just("capture failed"))),
)


# --- The harness: plays the application's part (timers, id resolution) ------------------


class Harness:
    def __init__(self, policy: CallPolicy) -> None:
        self.now = START
        ids = (rec(n) for n in itertools.count(1))
        self.machine = RecordingStateMachine(policy, lambda: self.now, lambda: next(ids))
        self.timers: dict[tuple[TimerKind, uuid.UUID | None], float] = {}

    def resolve(self, action: Action) -> Event | None:
        """Turn a generated action into the concrete event to feed, at the current time."""
        match action:
            case FireNextTimer():
                return self._fire_next_timer(TimerKind.NOTICE_LEAD, TimerKind.CONSENT_DEADLINE)
            case FireSessionExpiry():
                return self._fire_next_timer(TimerKind.SESSION_EXPIRY)
            case SessionStarted(session=session):
                expires_at = self.now + session.expires_at
                return SessionStarted(dataclasses.replace(session, expires_at=expires_at))
            case (
                NoticeElapsed(recording_id=rid)
                | ConsentConfirmed(recording_id=rid)
                | ConsentDeclined(recording_id=rid)
                | ConsentTimedOut(recording_id=rid)
                | CaptureStopped(recording_id=rid)
            ) if rid == CURRENT:
                current = self.machine.recording_id or NO_RECORDING
                return dataclasses.replace(action, recording_id=current)
            case _:
                return action

    def _fire_next_timer(self, *kinds: TimerKind) -> Event | None:
        pending = [(fire_at, key) for key, fire_at in self.timers.items() if key[0] in kinds]
        if not pending:
            return None
        fire_at, (kind, rid) = min(pending, key=lambda timer: timer[0])
        del self.timers[kind, rid]
        self.now = max(self.now, fire_at)
        match kind:
            case TimerKind.NOTICE_LEAD:
                return NoticeElapsed(rid or NO_RECORDING)
            case TimerKind.CONSENT_DEADLINE:
                return ConsentTimedOut(rid or NO_RECORDING)
            case TimerKind.SESSION_EXPIRY:
                session = self.machine.session
                return SessionExpired(session.session_id if session else "s-none")

    def track_timers(self, commands: list[Command]) -> None:
        for command in commands:
            match command:
                case SetTimer(timer=kind, recording_id=rid, fire_at=fire_at):
                    self.timers[kind, rid] = fire_at
                case CancelTimer(timer=kind, recording_id=rid):
                    self.timers.pop((kind, rid), None)


# --- The observer ----------------------------------------------------------------------


@dataclass
class Observer:
    policy: CallPolicy
    now: float = START
    step: int = 0
    latest: dict[str, TrainingSession] = field(default_factory=dict)
    first_started_at_step: dict[str, int] = field(default_factory=dict)
    closed: set[str] = field(default_factory=set)  # ended, expired or quota used up
    ended: set[str] = field(default_factory=set)  # ended or expired
    call_in_progress: bool = False
    call_number: int = 0
    call_started_at_step: int = -1
    notices: dict[uuid.UUID, tuple[float, int]] = field(default_factory=dict)
    hidden: set[uuid.UUID] = field(default_factory=set)
    captured_under: dict[uuid.UUID, str] = field(default_factory=dict)  # recording id -> session id
    captured_in_call: dict[uuid.UUID, int] = field(default_factory=dict)  # recording id -> call
    destroyed: set[uuid.UUID] = field(default_factory=set)
    consent_confirmed: set[uuid.UUID] = field(default_factory=set)
    personal_calls: set[int] = field(default_factory=set)
    next_call_personal: bool = False
    capture: uuid.UUID | None = None
    capture_paused: bool = False
    manual_pause: bool = False
    payment_pause: bool = False

    def session_live(self, session_id: str) -> bool:
        session = self.latest.get(session_id)
        return (
            session is not None and session_id not in self.closed and self.now < session.expires_at
        )

    def call_came_while_armed_by(self, session_id: str) -> bool:
        """The call in progress went off-hook after the session had started."""
        first_started = self.first_started_at_step.get(session_id)
        return (
            self.call_in_progress
            and first_started is not None
            and self.call_started_at_step > first_started
        )

    def kept_under(self, session_id: str) -> int:
        return sum(
            1
            for rid, sid in self.captured_under.items()
            if sid == session_id and rid not in self.destroyed
        )

    def saw_event(self, event: Event, now: float) -> None:
        self.step += 1
        self.now = now
        match event:
            case SessionStarted(session=session):
                # A session declared over stays over; a repeated start may amend its details.
                if session.session_id not in self.closed and now < session.expires_at:
                    self.latest[session.session_id] = session
                    self.first_started_at_step.setdefault(session.session_id, self.step)
            case SessionEnded(session_id=sid) | SessionExpired(session_id=sid):
                self.closed.add(sid)
                self.ended.add(sid)
            case QuotaUsedUp(session_id=sid):
                self.closed.add(sid)
            case OffHook() if not self.call_in_progress:
                self.call_in_progress = True
                self.call_number += 1
                self.call_started_at_step = self.step
                if self.next_call_personal:
                    self.personal_calls.add(self.call_number)
                    self.next_call_personal = False
            case OnHook():
                self.call_in_progress = False
            case Pause(source=source):
                if source in MANUAL_PAUSE_SOURCES:
                    self.manual_pause = True
                else:
                    self.payment_pause = True
            case Resume(source=source):
                if source in MANUAL_PAUSE_SOURCES:
                    self.manual_pause = False
                else:
                    self.payment_pause = False

    def check_commands(self, commands: list[Command]) -> None:
        for command in commands:
            match command:
                case ShowNotice(recording_id=rid, session=session, lead_time_s=lead):
                    assert lead == self.policy.notice_lead_time_s
                    assert self.session_live(session.session_id), "notice without a session"
                    assert self.call_came_while_armed_by(session.session_id)
                    assert rid not in self.notices, "recording id reused"
                    self.notices[rid] = (self.now, self.call_number)
                case HideNotice(recording_id=rid):
                    assert rid in self.notices
                    self.hidden.add(rid)
                case StartCapture(recording_id=rid, session_id=sid, start_paused=paused):
                    self.check_capture_may_start(rid, sid, paused)
                    self.capture = rid
                    self.capture_paused = paused
                    self.captured_under[rid] = sid
                    self.captured_in_call[rid] = self.call_number
                case PauseCapture(recording_id=rid):
                    assert self.capture == rid
                    assert not self.capture_paused
                    self.capture_paused = True
                case ResumeCapture(recording_id=rid):
                    assert self.capture == rid
                    assert self.capture_paused
                    assert not self.payment_pause, "resumed while a payment window is up"
                    assert not self.manual_pause, "resumed while the agent asked for a pause"
                    self.capture_paused = False
                case StopCapture(recording_id=rid):
                    assert self.capture == rid, "stopped a capture that was not running"
                    self.capture = None
                case DestroyRecording(recording_id=rid, reason=reason):
                    assert rid in self.captured_under
                    assert self.capture != rid, "destroyed a recording still being captured"
                    if reason is not DiscardReason.PERSONAL_CALL:
                        assert RecordConsent(rid, CONSENT_DECISION_FOR[reason]) in commands, (
                            "the consent decision is not kept with the recording"
                        )
                    self.destroyed.add(rid)
                case RecordConsent(recording_id=rid, decision=ConsentDecision.CONFIRMED):
                    self.consent_confirmed.add(rid)
        stopped = [command.recording_id for command in commands if isinstance(command, StopCapture)]
        if self.policy.consent_required:
            for rid in stopped:
                assert rid in self.consent_confirmed or rid in self.destroyed, (
                    "kept a recording nobody confirmed consent for"
                )

    def check_personal_and_consent(self, event: Event, commands: list[Command]) -> None:
        """R4 and R5: what the agent took back stays destroyed."""
        match event:
            case PersonalCallDeclared() if not any(isinstance(c, Rejected) for c in commands):
                if self.call_in_progress:
                    self.personal_calls.add(self.call_number)
                else:
                    self.next_call_personal = True
            case ConsentDeclined(recording_id=rid) if (
                rid in self.captured_in_call
                and self.call_in_progress
                and self.captured_in_call[rid] == self.call_number
            ):
                assert rid in self.destroyed, "kept a recording the caller refused"
            case ConsentTimedOut(recording_id=rid) if (
                self.policy.consent_required
                and rid in self.notices
                and rid not in self.consent_confirmed
                and self.now >= self.notices[rid][0] + self.policy.consent_timeout_s
            ):
                if rid in self.captured_under:
                    assert rid in self.destroyed, "kept a recording past its consent deadline"
                else:
                    assert rid in self.hidden, "notice still up past its consent deadline"
        for rid, call in self.captured_in_call.items():
            if call in self.personal_calls:
                assert rid in self.destroyed, "kept a recording of a personal call"

    def check_capture_may_start(self, rid: uuid.UUID, session_id: str, start_paused: bool) -> None:
        assert self.capture is None, "two captures at once"
        assert rid not in self.captured_under, "a recording id captured twice"
        assert self.session_live(session_id), "capture without an active session"
        assert self.call_came_while_armed_by(session_id), "capture of a call not taken armed"
        assert rid in self.notices, "capture without a notice"
        shown_at, call_number = self.notices[rid]
        assert call_number == self.call_number, "the notice was for another call"
        assert rid not in self.hidden, "the notice was taken down"
        assert self.now >= shown_at + self.policy.notice_lead_time_s, "capture before lead time"
        assert self.call_number not in self.personal_calls, "capture of a personal call"
        assert start_paused == (self.manual_pause or self.payment_pause), "first frame unguarded"
        assert self.kept_under(session_id) < self.latest[session_id].quota, "quota exceeded"

    def check_after(self, event: Event, machine: RecordingStateMachine) -> None:
        if isinstance(event, OnHook):
            assert self.capture is None, "capture still running after on-hook"
        capturing = self.capture is not None
        assert (machine.state in (State.RECORDING, State.PAUSED)) == capturing
        if self.capture is not None:
            session_id = self.captured_under[self.capture]
            assert machine.recording_id == self.capture
            assert self.call_in_progress
            assert session_id not in self.ended, "capture after session end"
            assert self.now < self.latest[session_id].expires_at, "capture after expiry"
            # R6: paused exactly while some pause source is active.
            assert self.capture_paused == (self.manual_pause or self.payment_pause)
            assert (machine.state is State.PAUSED) == self.capture_paused
        assert (PauseSource.PAYMENT_WINDOW in machine.paused_by) == self.payment_pause
        assert bool(machine.paused_by & MANUAL_PAUSE_SOURCES) == self.manual_pause
        session = machine.session
        if session is not None:
            assert machine.calls_recorded <= session.quota
            if machine.state in (State.ARMED, State.NOTICE):
                assert machine.calls_recorded < session.quota
        else:
            assert machine.state in (State.NO_SESSION, State.FINISHING, State.DISCARDED)


# --- Scripts ---------------------------------------------------------------------------


class _Script(RuleBasedStateMachine):
    """Feeds events to the machine as the application would, checking each result."""

    harness: Harness
    observer: Observer

    def begin(self, policy: CallPolicy, first_session: TrainingSession) -> None:
        self.harness = Harness(policy)
        self.observer = Observer(policy)
        self.play(0.0, SessionStarted(first_session))

    def play(self, advance: float, action: Action) -> None:
        self.harness.now += advance
        event = self.harness.resolve(action)
        if event is None:
            return
        self.observer.saw_event(event, self.harness.now)
        commands = self.harness.machine.handle(event)
        self.harness.track_timers(commands)
        self.observer.check_commands(commands)
        self.observer.check_personal_and_consent(event, commands)
        self.observer.check_after(event, self.harness.machine)


class RandomScript(_Script):
    """Any event at any time: sessions come and go, ids are stale, timers are early."""

    @initialize(policy=policies, first_session=roomy_sessions)
    def start(self, policy: CallPolicy, first_session: TrainingSession) -> None:
        self.begin(policy, first_session)

    @rule(advance=seconds, action=any_actions)
    def step(self, advance: float, action: Action) -> None:
        self.play(advance, action)


class BusySessionScript(_Script):
    """One long session and many calls, so captures start and stop in every way."""

    @initialize(policy=policies, first_session=roomy_sessions)
    def start(self, policy: CallPolicy, first_session: TrainingSession) -> None:
        self.begin(policy, first_session)

    @rule(advance=short_seconds, action=busy_call_actions)
    def step(self, advance: float, action: Action) -> None:
        self.play(advance, action)


TestRandomScript = RandomScript.TestCase
TestRandomScript.settings = SCRIPT_SETTINGS
TestBusySessionScript = BusySessionScript.TestCase
TestBusySessionScript.settings = SCRIPT_SETTINGS


def test_the_observer_sees_a_capture_in_a_plain_call() -> None:
    """Guards the properties against an observer that silently never sees a capture."""
    script = BusySessionScript()
    script.begin(CallPolicy(notice_lead_time_s=5.0), TrainingSession("s1", "t", "Tess", 1, 60.0))
    script.play(1.0, OffHook("call"))
    script.play(0.0, FireNextTimer())
    assert script.observer.captured_under == {rec(1): "s1"}
    assert script.harness.machine.state is State.RECORDING
    script.play(10.0, OnHook("call"))
    assert script.observer.kept_under("s1") == 1
    assert script.harness.machine.recording_id == rec(1)  # finishing
    script.teardown()
