"""Example tests for the recording state machine: every transition, ignored and rejected case."""

from __future__ import annotations

import dataclasses
import itertools
import math
import uuid
from typing import Any

import pytest

from agent.session.machine import (
    NO_SESSION_ACTIVE,
    PERSONAL_CALLS_FORBIDDEN,
    UNEXPECTED_CAPTURE_STOP,
    RecordingStateMachine,
)
from agent.session.vocabulary import (
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
from tests.helpers.recording_ids import rec

START = 1_700_000_000.0
LEAD = 5.0
CONSENT_TIMEOUT = 30.0


class FakeClock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Rig:
    """A machine with a fake clock and predictable recording ids, plus shortcuts to each state."""

    def __init__(self, policy: CallPolicy | None = None) -> None:
        self.policy = policy or CallPolicy(notice_lead_time_s=LEAD)
        self.clock = FakeClock()
        ids = (rec(n) for n in itertools.count(1))
        self.machine = RecordingStateMachine(self.policy, self.clock, lambda: next(ids))

    def state(self) -> State:
        # A method, not a property: mypy would otherwise narrow it after one assert.
        return self.machine.state

    def feed(self, event: Event) -> list[Command]:
        return self.machine.handle(event)

    def make_session(
        self, session_id: str = "s1", *, quota: int = 3, expires_in: float = 3600.0
    ) -> TrainingSession:
        return TrainingSession(
            session_id=session_id,
            purpose="training",
            trainer="Tess Trainer",
            quota=quota,
            expires_at=self.clock.now + expires_in,
            notice_text="Calls are recorded for training.",
        )

    def arm(
        self, session_id: str = "s1", *, quota: int = 3, expires_in: float = 3600.0
    ) -> TrainingSession:
        session = self.make_session(session_id, quota=quota, expires_in=expires_in)
        self.feed(SessionStarted(session))
        assert self.state() is State.ARMED
        return session

    def notice(self) -> uuid.UUID:
        """From ARMED, take a call; return its recording id."""
        self.feed(OffHook("call"))
        assert self.state() is State.NOTICE
        recording_id = self.machine.recording_id
        assert recording_id is not None
        return recording_id

    def record(self) -> uuid.UUID:
        """From ARMED, take a call and let the notice run its lead time."""
        recording_id = self.notice()
        self.clock.advance(self.policy.notice_lead_time_s)
        self.feed(NoticeElapsed(recording_id))
        assert self.state() in (State.RECORDING, State.PAUSED)
        return recording_id

    def finish(self) -> uuid.UUID:
        """From ARMED, record a call and hang up; capture is asked to stop."""
        recording_id = self.record()
        self.feed(OnHook("call"))
        assert self.state() is State.FINISHING
        return recording_id

    def record_one_call(self) -> uuid.UUID:
        recording_id = self.finish()
        self.feed(CaptureStopped(recording_id))
        return recording_id


def consent_rig() -> Rig:
    return Rig(
        CallPolicy(
            notice_lead_time_s=LEAD, consent_required=True, consent_timeout_s=CONSENT_TIMEOUT
        )
    )


def no_personal_rig() -> Rig:
    return Rig(CallPolicy(notice_lead_time_s=LEAD, personal_calls_allowed=False))


# --- Value objects ---------------------------------------------------------------------


class TestTrainingSession:
    def make(self, **changes: object) -> TrainingSession:
        fields: dict[str, object] = {
            "session_id": "s1",
            "purpose": "training",
            "trainer": "Tess",
            "quota": 2,
            "expires_at": START,
        }
        fields.update(changes)
        return TrainingSession(**fields)  # type: ignore[arg-type]

    def test_valid_session_keeps_its_fields(self) -> None:
        session = self.make(notice_text="")
        assert (session.session_id, session.quota, session.notice_text) == ("s1", 2, "")

    @pytest.mark.parametrize(
        ("changes", "message"),
        [
            ({"session_id": ""}, "session_id must not be empty"),
            ({"purpose": "  "}, "purpose must not be empty"),
            ({"trainer": ""}, "trainer must not be empty"),
            ({"quota": 0}, "quota must be at least 1 call"),
            ({"quota": -3}, "quota must be at least 1 call"),
            ({"expires_at": math.nan}, "expires_at must be a finite number"),
            ({"expires_at": math.inf}, "expires_at must be a finite number"),
        ],
    )
    def test_invalid_values_are_refused_with_a_clear_message(
        self, changes: dict[str, object], message: str
    ) -> None:
        with pytest.raises(ValueError, match=message):
            self.make(**changes)

    @pytest.mark.parametrize("quota", [True, 1.5, "3"])
    def test_quota_must_be_a_whole_number(self, quota: object) -> None:
        with pytest.raises(TypeError, match="quota must be a whole number"):
            self.make(quota=quota)

    def test_text_fields_must_be_text(self) -> None:
        with pytest.raises(TypeError, match="purpose must be text"):
            self.make(purpose=None)


class TestCallPolicy:
    def test_defaults(self) -> None:
        policy = CallPolicy()
        assert policy == CallPolicy(
            notice_lead_time_s=5.0,
            consent_required=False,
            consent_timeout_s=30.0,
            personal_calls_allowed=True,
        )

    def test_zero_lead_time_is_allowed(self) -> None:
        assert CallPolicy(notice_lead_time_s=0.0).notice_lead_time_s == 0.0

    @pytest.mark.parametrize(
        ("changes", "message"),
        [
            ({"notice_lead_time_s": -0.1}, "notice_lead_time_s must not be negative"),
            ({"notice_lead_time_s": math.nan}, "notice_lead_time_s must be a finite"),
            ({"notice_lead_time_s": math.inf}, "notice_lead_time_s must be a finite"),
            ({"consent_timeout_s": 0.0}, "consent_timeout_s must be positive"),
            ({"consent_timeout_s": -5.0}, "consent_timeout_s must be positive"),
            ({"consent_timeout_s": math.inf}, "consent_timeout_s must be a finite"),
        ],
    )
    def test_invalid_values_are_refused_with_a_clear_message(
        self, changes: dict[str, Any], message: str
    ) -> None:
        with pytest.raises(ValueError, match=message):
            CallPolicy(**changes)


@pytest.mark.parametrize(
    "value",
    [
        OffHook("c"),
        StopCapture(rec(1), Outcome.COMPLETE),
        CallPolicy(),
        TrainingSession("s", "p", "t", 1, START),
    ],
)
def test_values_are_slotted_and_frozen(value: object) -> None:
    assert not hasattr(value, "__dict__")
    field_name = dataclasses.fields(value)[0].name  # type: ignore[arg-type]
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(value, field_name, None)


def test_default_recording_ids_are_random_uuids() -> None:
    machine = RecordingStateMachine(CallPolicy(), FakeClock())
    machine.handle(SessionStarted(TrainingSession("s1", "training", "Tess", 2, START + 60)))
    machine.handle(OffHook(None))
    first = machine.recording_id
    assert first is not None
    assert first.version == 4  # random, not derived from the host or the time


def test_handle_refuses_something_that_is_not_an_event() -> None:
    machine = RecordingStateMachine(CallPolicy(), FakeClock())
    with pytest.raises(TypeError, match="not a session event"):
        machine.handle("OffHook")  # type: ignore[arg-type]


# --- NO_SESSION ------------------------------------------------------------------------


class TestNoSession:
    def test_starts_idle(self) -> None:
        machine = Rig().machine
        assert machine.state is State.NO_SESSION
        assert machine.session is None
        assert machine.recording_id is None
        assert machine.calls_recorded == 0
        assert machine.paused_by == frozenset()

    def test_session_started_arms_and_sets_the_expiry_timer(self) -> None:
        rig = Rig()
        session = rig.make_session()
        assert rig.feed(SessionStarted(session)) == [
            SetTimer(TimerKind.SESSION_EXPIRY, None, session.expires_at)
        ]
        assert rig.state() is State.ARMED
        assert rig.machine.session == session

    def test_a_session_already_expired_is_rejected(self) -> None:
        rig = Rig()
        event = SessionStarted(rig.make_session(expires_in=0.0))
        [rejected] = rig.feed(event)
        assert isinstance(rejected, Rejected)
        assert rejected.event == event
        assert "expired" in rejected.reason
        assert rig.state() is State.NO_SESSION

    @pytest.mark.parametrize(
        "event",
        [
            OffHook("c"),
            OnHook("c"),
            NoticeElapsed(rec(1)),
            ConsentConfirmed(rec(1)),
            ConsentDeclined(rec(1)),
            ConsentTimedOut(rec(1)),
            CaptureStopped(rec(1)),
            SessionEnded("s1"),
            SessionExpired("s1"),
            QuotaUsedUp("s1"),
            Pause(PauseSource.TRAY),
            Resume(PauseSource.TRAY),
        ],
    )
    def test_events_without_a_session_do_nothing(self, event: Event) -> None:
        rig = Rig()
        assert rig.feed(event) == []
        assert rig.state() is State.NO_SESSION

    def test_personal_call_is_rejected_because_nothing_is_recorded(self) -> None:
        rig = Rig()
        assert rig.feed(PersonalCallDeclared()) == [
            Rejected(PersonalCallDeclared(), NO_SESSION_ACTIVE)
        ]

    def test_capture_error_is_reported_even_without_capture(self) -> None:
        assert Rig().feed(CaptureError("camera gone")) == [ReportError("camera gone")]

    def test_a_call_in_progress_when_the_session_starts_is_never_recorded(self) -> None:
        rig = Rig()
        rig.feed(OffHook("early"))
        rig.arm()
        # Another detector reports the same call: still not a new call.
        assert rig.feed(OffHook("early")) == []
        assert rig.feed(OffHook(None)) == []
        assert rig.state() is State.ARMED
        assert rig.feed(OnHook("early")) == []
        rig.notice()  # the next call is announced


# --- ARMED -----------------------------------------------------------------------------


class TestArmed:
    def test_off_hook_shows_the_notice_and_starts_the_lead_timer(self) -> None:
        rig = Rig()
        session = rig.arm()
        assert rig.feed(OffHook("c1")) == [
            ShowNotice(rec(1), session, LEAD, consent_required=False, personal_allowed=True),
            SetTimer(TimerKind.NOTICE_LEAD, rec(1), START + LEAD),
        ]
        assert rig.state() is State.NOTICE
        assert rig.machine.recording_id == rec(1)

    def test_with_consent_required_the_consent_deadline_is_set_too(self) -> None:
        rig = consent_rig()
        session = rig.arm()
        assert rig.feed(OffHook("c1")) == [
            ShowNotice(rec(1), session, LEAD, consent_required=True, personal_allowed=True),
            SetTimer(TimerKind.NOTICE_LEAD, rec(1), START + LEAD),
            SetTimer(TimerKind.CONSENT_DEADLINE, rec(1), START + CONSENT_TIMEOUT),
        ]

    def test_notice_tells_the_agent_when_personal_calls_are_not_allowed(self) -> None:
        rig = no_personal_rig()
        session = rig.arm()
        [show, _timer] = rig.feed(OffHook("c1"))
        assert show == ShowNotice(rec(1), session, LEAD, False, personal_allowed=False)

    def test_on_hook_without_a_call_does_nothing(self) -> None:
        rig = Rig()
        rig.arm()
        assert rig.feed(OnHook("c1")) == []
        assert rig.state() is State.ARMED

    def test_a_call_declared_personal_beforehand_gets_no_notice_and_no_capture(self) -> None:
        rig = Rig()
        rig.arm()
        assert rig.feed(PersonalCallDeclared()) == []
        assert rig.feed(OffHook("private")) == []
        assert rig.state() is State.DISCARDED
        assert rig.machine.recording_id is None
        assert rig.feed(OnHook("private")) == []
        assert rig.state() is State.ARMED
        rig.notice()  # the mark covered one call only

    def test_personal_call_is_rejected_when_policy_forbids_it(self) -> None:
        rig = no_personal_rig()
        rig.arm()
        assert rig.feed(PersonalCallDeclared()) == [
            Rejected(PersonalCallDeclared(), PERSONAL_CALLS_FORBIDDEN)
        ]
        rig.notice()

    def test_personal_declared_on_an_unrecorded_call_applies_to_that_call(self) -> None:
        rig = Rig()
        rig.feed(OffHook("early"))
        rig.arm()
        assert rig.feed(PersonalCallDeclared()) == []
        assert rig.state() is State.DISCARDED
        rig.feed(OnHook("early"))
        assert rig.state() is State.ARMED
        rig.notice()

    def test_a_replaced_session_that_comes_back_keeps_its_count(self) -> None:
        rig = Rig()
        first = rig.arm("s1", quota=2)
        rig.record_one_call()
        rig.feed(SessionStarted(rig.make_session("s2")))
        assert rig.machine.calls_recorded == 0
        rig.feed(SessionStarted(first))
        assert rig.machine.session == first
        assert rig.machine.calls_recorded == 1

    def test_a_replaced_session_with_no_calls_left_is_rejected(self) -> None:
        rig = Rig()
        first = rig.arm("s1", quota=1)
        recording_id = rig.record()
        rig.feed(SessionStarted(rig.make_session("s2")))  # waits for the call to end
        rig.feed(OnHook("call"))
        rig.feed(CaptureStopped(recording_id))
        assert rig.machine.session is not None
        assert rig.machine.session.session_id == "s2"
        assert rig.feed(SessionStarted(first)) == [
            Rejected(SessionStarted(first), "Training session s1 has no calls left.")
        ]
        assert rig.machine.session.session_id == "s2"

    @pytest.mark.parametrize("ending", [SessionEnded("s1"), SessionExpired("s1")])
    def test_session_end_disarms(self, ending: Event) -> None:
        rig = Rig()
        rig.arm()
        assert rig.feed(ending) == [CancelTimer(TimerKind.SESSION_EXPIRY, None)]
        assert rig.state() is State.NO_SESSION
        assert rig.machine.session is None
        assert rig.feed(OffHook("c1")) == []

    def test_quota_used_up_disarms(self) -> None:
        rig = Rig()
        rig.arm()
        assert rig.feed(QuotaUsedUp("s1")) == [CancelTimer(TimerKind.SESSION_EXPIRY, None)]
        assert rig.state() is State.NO_SESSION

    @pytest.mark.parametrize(
        "event", [SessionEnded("other"), SessionExpired("other"), QuotaUsedUp("other")]
    )
    def test_session_events_for_another_session_are_ignored(self, event: Event) -> None:
        rig = Rig()
        rig.arm()
        assert rig.feed(event) == []
        assert rig.state() is State.ARMED

    def test_reaching_the_expiry_time_disarms_before_the_event_is_handled(self) -> None:
        rig = Rig()
        rig.arm(expires_in=60.0)
        rig.clock.advance(60.0)
        assert rig.feed(OffHook("c1")) == [CancelTimer(TimerKind.SESSION_EXPIRY, None)]
        assert rig.state() is State.NO_SESSION

    def test_a_later_session_expired_event_is_then_ignored(self) -> None:
        rig = Rig()
        rig.arm(expires_in=60.0)
        rig.clock.advance(61.0)
        assert rig.feed(SessionExpired("s1")) == [CancelTimer(TimerKind.SESSION_EXPIRY, None)]
        assert rig.feed(SessionExpired("s1")) == []

    def test_a_new_session_replaces_the_current_one(self) -> None:
        rig = Rig()
        rig.arm(quota=3)
        rig.record_one_call()
        assert rig.machine.calls_recorded == 1
        replacement = rig.make_session("s2", expires_in=100.0)
        assert rig.feed(SessionStarted(replacement)) == [
            SetTimer(TimerKind.SESSION_EXPIRY, None, replacement.expires_at)
        ]
        assert rig.machine.session == replacement
        assert rig.machine.calls_recorded == 0

    def test_the_same_session_again_keeps_its_recorded_calls(self) -> None:
        rig = Rig()
        rig.arm(quota=3)
        rig.record_one_call()
        amended = rig.make_session("s1", quota=3, expires_in=7200.0)
        assert rig.feed(SessionStarted(amended)) == [
            SetTimer(TimerKind.SESSION_EXPIRY, None, amended.expires_at)
        ]
        assert rig.machine.calls_recorded == 1
        assert rig.machine.session == amended

    def test_the_same_session_with_a_quota_already_reached_disarms(self) -> None:
        rig = Rig()
        rig.arm(quota=3)
        rig.record_one_call()
        amended = rig.make_session("s1", quota=1)
        assert rig.feed(SessionStarted(amended)) == [
            SetTimer(TimerKind.SESSION_EXPIRY, None, amended.expires_at),
            CancelTimer(TimerKind.SESSION_EXPIRY, None),
        ]
        assert rig.state() is State.NO_SESSION

    @pytest.mark.parametrize("ending", [SessionEnded("s1"), QuotaUsedUp("s1")])
    def test_a_closed_session_cannot_be_started_again(self, ending: Event) -> None:
        rig = Rig()
        rig.arm()
        rig.feed(ending)
        again = SessionStarted(rig.make_session("s1"))
        [rejected] = rig.feed(again)
        assert isinstance(rejected, Rejected)
        assert "already ended" in rejected.reason
        assert rig.state() is State.NO_SESSION

    @pytest.mark.parametrize(
        "event",
        [
            NoticeElapsed(rec(1)),
            ConsentConfirmed(rec(1)),
            ConsentDeclined(rec(1)),
            ConsentTimedOut(rec(1)),
            CaptureStopped(rec(1)),
        ],
    )
    def test_recording_events_without_a_call_are_ignored(self, event: Event) -> None:
        rig = Rig()
        rig.arm()
        assert rig.feed(event) == []
        assert rig.state() is State.ARMED

    def test_capture_error_is_reported(self) -> None:
        rig = Rig()
        rig.arm()
        assert rig.feed(CaptureError("encoder missing")) == [ReportError("encoder missing")]
        assert rig.state() is State.ARMED


# --- NOTICE ----------------------------------------------------------------------------


class TestNotice:
    def test_capture_starts_once_the_lead_time_has_elapsed(self) -> None:
        rig = Rig()
        rig.arm()
        recording_id = rig.notice()
        rig.clock.advance(LEAD)
        assert rig.feed(NoticeElapsed(recording_id)) == [
            StartCapture(recording_id, "s1", "training", start_paused=False)
        ]
        assert rig.state() is State.RECORDING

    def test_a_premature_timer_is_ignored(self) -> None:
        rig = Rig()
        rig.arm()
        recording_id = rig.notice()
        rig.clock.advance(LEAD - 0.001)
        assert rig.feed(NoticeElapsed(recording_id)) == []
        assert rig.state() is State.NOTICE
        rig.clock.advance(0.001)
        assert rig.feed(NoticeElapsed(recording_id)) != []
        assert rig.state() is State.RECORDING

    def test_a_timer_for_another_recording_is_ignored(self) -> None:
        rig = Rig()
        rig.arm()
        rig.notice()
        rig.clock.advance(LEAD)
        assert rig.feed(NoticeElapsed(rec(0))) == []
        assert rig.state() is State.NOTICE

    def test_a_stale_timer_from_an_abandoned_notice_is_ignored(self) -> None:
        rig = Rig()
        rig.arm()
        first = rig.notice()
        rig.feed(OnHook("call"))
        rig.clock.advance(LEAD - 1)
        second = rig.notice()
        rig.clock.advance(1)
        assert rig.feed(NoticeElapsed(first)) == []
        rig.clock.advance(LEAD)
        assert rig.feed(NoticeElapsed(second)) != []

    def test_zero_lead_time_lets_capture_start_at_once(self) -> None:
        rig = Rig(CallPolicy(notice_lead_time_s=0.0))
        rig.arm()
        recording_id = rig.notice()
        assert rig.feed(NoticeElapsed(recording_id)) == [
            StartCapture(recording_id, "s1", "training", start_paused=False)
        ]

    def test_a_pause_during_the_notice_starts_capture_paused(self) -> None:
        rig = Rig()
        rig.arm()
        recording_id = rig.notice()
        assert rig.feed(Pause(PauseSource.HOTKEY)) == []
        rig.clock.advance(LEAD)
        assert rig.feed(NoticeElapsed(recording_id)) == [
            StartCapture(recording_id, "s1", "training", start_paused=True)
        ]
        assert rig.state() is State.PAUSED
        assert rig.machine.paused_by == {PauseSource.HOTKEY}

    def test_a_payment_window_open_before_the_call_starts_capture_paused(self) -> None:
        rig = Rig()
        rig.feed(Pause(PauseSource.PAYMENT_WINDOW))
        rig.arm()
        recording_id = rig.record()
        assert rig.state() is State.PAUSED
        assert rig.feed(Resume(PauseSource.PAYMENT_WINDOW)) == [ResumeCapture(recording_id)]

    def test_a_pause_lifted_during_the_notice_is_forgotten(self) -> None:
        rig = Rig()
        rig.arm()
        rig.notice()
        rig.feed(Pause(PauseSource.TRAY))
        rig.feed(Resume(PauseSource.COMMAND_LINE))
        rig.clock.advance(LEAD)
        rig.feed(NoticeElapsed(rec(1)))
        assert rig.state() is State.RECORDING

    def test_hang_up_withdraws_the_notice_and_rearms(self) -> None:
        rig = Rig()
        rig.arm()
        recording_id = rig.notice()
        assert rig.feed(OnHook("call")) == [
            HideNotice(recording_id),
            CancelTimer(TimerKind.NOTICE_LEAD, recording_id),
        ]
        assert rig.state() is State.ARMED
        assert rig.machine.recording_id is None
        assert rig.machine.calls_recorded == 0

    def test_hang_up_with_consent_pending_cancels_the_consent_deadline_too(self) -> None:
        rig = consent_rig()
        rig.arm()
        recording_id = rig.notice()
        assert rig.feed(OnHook("call")) == [
            HideNotice(recording_id),
            CancelTimer(TimerKind.NOTICE_LEAD, recording_id),
            CancelTimer(TimerKind.CONSENT_DEADLINE, recording_id),
        ]

    def test_personal_call_withdraws_the_notice_and_discards(self) -> None:
        rig = Rig()
        rig.arm()
        recording_id = rig.notice()
        assert rig.feed(PersonalCallDeclared()) == [
            HideNotice(recording_id),
            CancelTimer(TimerKind.NOTICE_LEAD, recording_id),
        ]
        assert rig.state() is State.DISCARDED
        rig.clock.advance(LEAD)
        assert rig.feed(NoticeElapsed(recording_id)) == []

    def test_personal_call_is_rejected_when_policy_forbids_it(self) -> None:
        rig = no_personal_rig()
        rig.arm()
        rig.notice()
        assert rig.feed(PersonalCallDeclared()) == [
            Rejected(PersonalCallDeclared(), PERSONAL_CALLS_FORBIDDEN)
        ]
        assert rig.state() is State.NOTICE

    def test_consent_declined_records_the_decision_and_discards(self) -> None:
        rig = consent_rig()
        rig.arm()
        recording_id = rig.notice()
        assert rig.feed(ConsentDeclined(recording_id)) == [
            HideNotice(recording_id),
            CancelTimer(TimerKind.NOTICE_LEAD, recording_id),
            CancelTimer(TimerKind.CONSENT_DEADLINE, recording_id),
            RecordConsent(recording_id, ConsentDecision.DECLINED),
        ]
        assert rig.state() is State.DISCARDED
        rig.feed(OnHook("call"))
        assert rig.state() is State.ARMED
        assert rig.machine.calls_recorded == 0

    def test_consent_confirmed_is_recorded_but_capture_still_waits(self) -> None:
        rig = consent_rig()
        rig.arm()
        recording_id = rig.notice()
        assert rig.feed(ConsentConfirmed(recording_id)) == [
            RecordConsent(recording_id, ConsentDecision.CONFIRMED),
            CancelTimer(TimerKind.CONSENT_DEADLINE, recording_id),
        ]
        assert rig.state() is State.NOTICE
        assert rig.feed(ConsentConfirmed(recording_id)) == []
        assert rig.feed(NoticeElapsed(recording_id)) == []
        rig.clock.advance(LEAD)
        assert rig.feed(NoticeElapsed(recording_id)) != []

    def test_consent_confirmed_without_a_policy_requirement_is_still_recorded(self) -> None:
        rig = Rig()
        rig.arm()
        recording_id = rig.notice()
        assert rig.feed(ConsentConfirmed(recording_id)) == [
            RecordConsent(recording_id, ConsentDecision.CONFIRMED)
        ]

    def test_consent_deadline_before_the_lead_time_discards_the_call(self) -> None:
        rig = Rig(CallPolicy(notice_lead_time_s=LEAD, consent_required=True, consent_timeout_s=2.0))
        rig.arm()
        recording_id = rig.notice()
        rig.clock.advance(1.0)
        assert rig.feed(ConsentTimedOut(recording_id)) == []
        rig.clock.advance(1.0)
        assert rig.feed(ConsentTimedOut(recording_id)) == [
            HideNotice(recording_id),
            CancelTimer(TimerKind.NOTICE_LEAD, recording_id),
            RecordConsent(recording_id, ConsentDecision.TIMED_OUT),
        ]
        assert rig.state() is State.DISCARDED

    @pytest.mark.parametrize(
        "event", [ConsentConfirmed(rec(0)), ConsentDeclined(rec(0)), ConsentTimedOut(rec(0))]
    )
    def test_consent_events_for_another_recording_are_ignored(self, event: Event) -> None:
        rig = consent_rig()
        rig.arm()
        rig.notice()
        rig.clock.advance(CONSENT_TIMEOUT)
        assert rig.feed(event) == []
        assert rig.state() is State.NOTICE

    def test_consent_timeout_without_a_requirement_is_ignored(self) -> None:
        rig = Rig()
        rig.arm()
        recording_id = rig.notice()
        rig.clock.advance(CONSENT_TIMEOUT)
        assert rig.feed(ConsentTimedOut(recording_id)) == []

    @pytest.mark.parametrize("ending", [SessionEnded("s1"), SessionExpired("s1")])
    def test_session_end_withdraws_the_notice_and_the_call_stays_unrecorded(
        self, ending: Event
    ) -> None:
        rig = Rig()
        rig.arm()
        recording_id = rig.notice()
        assert rig.feed(ending) == [
            HideNotice(recording_id),
            CancelTimer(TimerKind.NOTICE_LEAD, recording_id),
            CancelTimer(TimerKind.SESSION_EXPIRY, None),
        ]
        assert rig.state() is State.NO_SESSION
        rig.arm("s2")
        assert rig.feed(OffHook("call")) == []  # same call, still in progress
        rig.feed(OnHook("call"))
        rig.notice()

    def test_expiry_at_the_lead_time_wins_over_the_notice_timer(self) -> None:
        rig = Rig()
        rig.arm(expires_in=LEAD)
        recording_id = rig.notice()
        rig.clock.advance(LEAD)
        commands = rig.feed(NoticeElapsed(recording_id))
        assert commands == [
            HideNotice(recording_id),
            CancelTimer(TimerKind.NOTICE_LEAD, recording_id),
            CancelTimer(TimerKind.SESSION_EXPIRY, None),
        ]
        assert rig.state() is State.NO_SESSION

    def test_quota_used_up_withdraws_the_notice(self) -> None:
        rig = Rig()
        rig.arm()
        recording_id = rig.notice()
        assert rig.feed(QuotaUsedUp("s1")) == [
            HideNotice(recording_id),
            CancelTimer(TimerKind.NOTICE_LEAD, recording_id),
            CancelTimer(TimerKind.SESSION_EXPIRY, None),
        ]
        assert rig.state() is State.NO_SESSION

    def test_the_same_session_with_a_quota_already_reached_withdraws_the_notice(self) -> None:
        rig = Rig()
        rig.arm(quota=2)
        rig.record_one_call()
        recording_id = rig.notice()
        amended = rig.make_session("s1", quota=1)
        assert rig.feed(SessionStarted(amended)) == [
            SetTimer(TimerKind.SESSION_EXPIRY, None, amended.expires_at),
            HideNotice(recording_id),
            CancelTimer(TimerKind.NOTICE_LEAD, recording_id),
            CancelTimer(TimerKind.SESSION_EXPIRY, None),
        ]
        assert rig.state() is State.NO_SESSION

    def test_a_new_session_waits_until_the_call_ends(self) -> None:
        rig = Rig()
        rig.arm("s1")
        rig.notice()
        newer = rig.make_session("s2")
        assert rig.feed(SessionStarted(newer)) == []
        assert rig.machine.session is not None
        assert rig.machine.session.session_id == "s1"
        commands = rig.feed(OnHook("call"))
        assert commands[-1] == SetTimer(TimerKind.SESSION_EXPIRY, None, newer.expires_at)
        assert rig.machine.session == newer
        assert rig.state() is State.ARMED

    @pytest.mark.parametrize("event", [OffHook("call"), OffHook("other"), CaptureStopped(rec(1))])
    def test_repeated_off_hook_and_capture_events_are_ignored(self, event: Event) -> None:
        rig = Rig()
        rig.arm()
        rig.notice()
        assert rig.feed(event) == []
        assert rig.state() is State.NOTICE

    def test_an_on_hook_without_a_call_id_still_ends_the_call(self) -> None:
        rig = Rig()
        rig.arm()
        rig.notice()
        assert rig.feed(OnHook(None)) != []
        assert rig.state() is State.ARMED

    def test_capture_error_is_reported_without_leaving_the_notice(self) -> None:
        rig = Rig()
        rig.arm()
        rig.notice()
        assert rig.feed(CaptureError("no audio device")) == [ReportError("no audio device")]
        assert rig.state() is State.NOTICE


# --- RECORDING / PAUSED ----------------------------------------------------------------


class TestRecording:
    def test_hang_up_stops_capture_and_keeps_the_recording(self) -> None:
        rig = Rig()
        rig.arm()
        recording_id = rig.record()
        assert rig.feed(OnHook("call")) == [
            StopCapture(recording_id, Outcome.COMPLETE),
            HideNotice(recording_id),
        ]
        assert rig.state() is State.FINISHING
        assert rig.machine.recording_id == recording_id

    def test_hang_up_while_paused_stops_capture_too(self) -> None:
        rig = Rig()
        rig.arm()
        recording_id = rig.record()
        rig.feed(Pause(PauseSource.TRAY))
        assert rig.feed(OnHook("call"))[0] == StopCapture(recording_id, Outcome.COMPLETE)
        assert rig.state() is State.FINISHING

    def test_capture_error_stops_capture_and_reports(self) -> None:
        rig = Rig()
        rig.arm()
        recording_id = rig.record()
        assert rig.feed(CaptureError("disk full")) == [
            StopCapture(recording_id, Outcome.INTERRUPTED),
            ReportError("disk full"),
            HideNotice(recording_id),
        ]
        assert rig.state() is State.FINISHING
        assert rig.feed(CaptureStopped(recording_id)) == []
        assert rig.machine.calls_recorded == 1
        assert rig.state() is State.ARMED
        # The failed call is still up; it is not recorded a second time.
        assert rig.feed(OffHook("call")) == []
        rig.feed(OnHook("call"))
        rig.notice()

    @pytest.mark.parametrize("ending", [SessionEnded("s1"), SessionExpired("s1")])
    def test_session_end_interrupts_capture(self, ending: Event) -> None:
        rig = Rig()
        rig.arm()
        recording_id = rig.record()
        assert rig.feed(ending) == [
            StopCapture(recording_id, Outcome.INTERRUPTED),
            HideNotice(recording_id),
            CancelTimer(TimerKind.SESSION_EXPIRY, None),
        ]
        assert rig.state() is State.FINISHING
        assert rig.machine.session is None
        assert rig.feed(CaptureStopped(recording_id)) == []
        assert rig.state() is State.NO_SESSION
        assert rig.machine.calls_recorded == 1

    def test_expiry_interrupts_capture_on_the_next_event(self) -> None:
        rig = Rig()
        rig.arm(expires_in=60.0)
        recording_id = rig.record()
        rig.clock.advance(60.0)
        assert rig.feed(Pause(PauseSource.TRAY)) == [
            StopCapture(recording_id, Outcome.INTERRUPTED),
            HideNotice(recording_id),
            CancelTimer(TimerKind.SESSION_EXPIRY, None),
        ]
        assert rig.state() is State.FINISHING

    def test_pause_and_resume_from_the_tray(self) -> None:
        rig = Rig()
        rig.arm()
        recording_id = rig.record()
        assert rig.feed(Pause(PauseSource.TRAY)) == [PauseCapture(recording_id)]
        assert rig.state() is State.PAUSED
        assert rig.feed(Pause(PauseSource.HOTKEY)) == []
        assert rig.machine.paused_by == {PauseSource.TRAY, PauseSource.HOTKEY}
        # One manual resume lifts every manual pause.
        assert rig.feed(Resume(PauseSource.COMMAND_LINE)) == [ResumeCapture(recording_id)]
        assert rig.state() is State.RECORDING
        assert rig.machine.paused_by == frozenset()

    def test_manual_resume_does_not_lift_the_payment_window_pause(self) -> None:
        rig = Rig()
        rig.arm()
        recording_id = rig.record()
        assert rig.feed(Pause(PauseSource.PAYMENT_WINDOW)) == [PauseCapture(recording_id)]
        assert rig.feed(Pause(PauseSource.TRAY)) == []
        assert rig.feed(Resume(PauseSource.TRAY)) == []
        assert rig.state() is State.PAUSED
        assert rig.machine.paused_by == {PauseSource.PAYMENT_WINDOW}
        assert rig.feed(Resume(PauseSource.PAYMENT_WINDOW)) == [ResumeCapture(recording_id)]
        assert rig.state() is State.RECORDING

    def test_payment_window_closing_does_not_lift_a_manual_pause(self) -> None:
        rig = Rig()
        rig.arm()
        recording_id = rig.record()
        rig.feed(Pause(PauseSource.HOTKEY))
        rig.feed(Pause(PauseSource.PAYMENT_WINDOW))
        assert rig.feed(Resume(PauseSource.PAYMENT_WINDOW)) == []
        assert rig.state() is State.PAUSED
        assert rig.feed(Resume(PauseSource.HOTKEY)) == [ResumeCapture(recording_id)]

    def test_resume_while_recording_does_nothing(self) -> None:
        rig = Rig()
        rig.arm()
        rig.record()
        assert rig.feed(Resume(PauseSource.TRAY)) == []
        assert rig.feed(Resume(PauseSource.PAYMENT_WINDOW)) == []
        assert rig.state() is State.RECORDING

    def test_personal_call_destroys_what_was_captured(self) -> None:
        rig = Rig()
        rig.arm(quota=1)
        recording_id = rig.record()
        assert rig.feed(PersonalCallDeclared()) == [
            StopCapture(recording_id, Outcome.INTERRUPTED),
            DestroyRecording(recording_id, DiscardReason.PERSONAL_CALL),
            HideNotice(recording_id),
        ]
        assert rig.state() is State.DISCARDED
        assert rig.machine.recording_id is None
        assert rig.feed(CaptureStopped(recording_id)) == []
        assert rig.feed(OnHook("call")) == []
        assert rig.state() is State.ARMED
        assert rig.machine.calls_recorded == 0  # discarded calls do not use the quota

    def test_personal_call_is_rejected_when_policy_forbids_it(self) -> None:
        rig = no_personal_rig()
        rig.arm()
        rig.record()
        assert rig.feed(PersonalCallDeclared()) == [
            Rejected(PersonalCallDeclared(), PERSONAL_CALLS_FORBIDDEN)
        ]
        assert rig.state() is State.RECORDING

    def test_consent_pending_does_not_block_capture(self) -> None:
        rig = consent_rig()
        rig.arm()
        recording_id = rig.record()
        assert rig.state() is State.RECORDING
        assert rig.feed(ConsentConfirmed(recording_id)) == [
            RecordConsent(recording_id, ConsentDecision.CONFIRMED),
            CancelTimer(TimerKind.CONSENT_DEADLINE, recording_id),
        ]
        rig.clock.advance(CONSENT_TIMEOUT)
        assert rig.feed(ConsentTimedOut(recording_id)) == []
        assert rig.feed(OnHook("call"))[0] == StopCapture(recording_id, Outcome.COMPLETE)
        rig.feed(CaptureStopped(recording_id))
        assert rig.machine.calls_recorded == 1

    def test_consent_declined_destroys_the_recording(self) -> None:
        rig = consent_rig()
        rig.arm()
        recording_id = rig.record()
        assert rig.feed(ConsentDeclined(recording_id)) == [
            StopCapture(recording_id, Outcome.INTERRUPTED),
            RecordConsent(recording_id, ConsentDecision.DECLINED),
            DestroyRecording(recording_id, DiscardReason.CONSENT_DECLINED),
            CancelTimer(TimerKind.CONSENT_DEADLINE, recording_id),
            HideNotice(recording_id),
        ]
        assert rig.state() is State.DISCARDED

    def test_consent_withdrawn_after_confirmation_destroys_the_recording(self) -> None:
        rig = consent_rig()
        rig.arm()
        recording_id = rig.record()
        rig.feed(ConsentConfirmed(recording_id))
        assert rig.feed(ConsentDeclined(recording_id)) == [
            StopCapture(recording_id, Outcome.INTERRUPTED),
            RecordConsent(recording_id, ConsentDecision.DECLINED),
            DestroyRecording(recording_id, DiscardReason.CONSENT_DECLINED),
            HideNotice(recording_id),
        ]

    def test_consent_deadline_destroys_the_recording(self) -> None:
        rig = consent_rig()
        rig.arm()
        recording_id = rig.record()
        rig.clock.advance(CONSENT_TIMEOUT - LEAD - 0.5)
        assert rig.feed(ConsentTimedOut(recording_id)) == []  # premature
        assert rig.feed(ConsentTimedOut(rec(0))) == []
        rig.clock.advance(0.5)
        assert rig.feed(ConsentTimedOut(recording_id)) == [
            StopCapture(recording_id, Outcome.INTERRUPTED),
            RecordConsent(recording_id, ConsentDecision.TIMED_OUT),
            DestroyRecording(recording_id, DiscardReason.CONSENT_TIMED_OUT),
            HideNotice(recording_id),
        ]
        assert rig.state() is State.DISCARDED
        rig.feed(OnHook("call"))
        assert rig.machine.calls_recorded == 0

    def test_hang_up_with_consent_still_pending_destroys_the_recording(self) -> None:
        rig = consent_rig()
        rig.arm()
        recording_id = rig.record()
        assert rig.feed(OnHook("call")) == [
            StopCapture(recording_id, Outcome.COMPLETE),
            RecordConsent(recording_id, ConsentDecision.TIMED_OUT),
            DestroyRecording(recording_id, DiscardReason.CONSENT_TIMED_OUT),
            CancelTimer(TimerKind.CONSENT_DEADLINE, recording_id),
            HideNotice(recording_id),
        ]
        assert rig.state() is State.ARMED
        assert rig.machine.calls_recorded == 0

    def test_capture_error_with_consent_pending_destroys_the_recording(self) -> None:
        rig = consent_rig()
        rig.arm()
        recording_id = rig.record()
        assert rig.feed(CaptureError("grab failed")) == [
            StopCapture(recording_id, Outcome.INTERRUPTED),
            ReportError("grab failed"),
            RecordConsent(recording_id, ConsentDecision.TIMED_OUT),
            DestroyRecording(recording_id, DiscardReason.CONSENT_TIMED_OUT),
            CancelTimer(TimerKind.CONSENT_DEADLINE, recording_id),
            HideNotice(recording_id),
        ]
        assert rig.state() is State.DISCARDED

    def test_session_end_with_consent_pending_destroys_the_recording(self) -> None:
        rig = consent_rig()
        rig.arm()
        recording_id = rig.record()
        assert rig.feed(SessionEnded("s1")) == [
            StopCapture(recording_id, Outcome.INTERRUPTED),
            RecordConsent(recording_id, ConsentDecision.TIMED_OUT),
            DestroyRecording(recording_id, DiscardReason.CONSENT_TIMED_OUT),
            CancelTimer(TimerKind.CONSENT_DEADLINE, recording_id),
            HideNotice(recording_id),
            CancelTimer(TimerKind.SESSION_EXPIRY, None),
        ]
        assert rig.state() is State.DISCARDED
        rig.feed(OnHook("call"))
        assert rig.state() is State.NO_SESSION

    def test_quota_used_up_lets_the_current_call_finish(self) -> None:
        rig = Rig()
        rig.arm()
        recording_id = rig.record()
        assert rig.feed(QuotaUsedUp("s1")) == []
        assert rig.state() is State.RECORDING
        assert rig.feed(OnHook("call"))[0] == StopCapture(recording_id, Outcome.COMPLETE)
        assert rig.feed(CaptureStopped(recording_id)) == [
            CancelTimer(TimerKind.SESSION_EXPIRY, None)
        ]
        assert rig.state() is State.NO_SESSION
        assert rig.machine.calls_recorded == 1

    def test_a_new_session_waits_until_the_recording_is_finished(self) -> None:
        rig = Rig()
        rig.arm("s1")
        recording_id = rig.record()
        newer = rig.make_session("s2")
        assert rig.feed(SessionStarted(newer)) == []
        rig.feed(OnHook("call"))
        assert rig.feed(CaptureStopped(recording_id)) == [
            SetTimer(TimerKind.SESSION_EXPIRY, None, newer.expires_at)
        ]
        assert rig.machine.session == newer
        assert rig.machine.calls_recorded == 0
        assert rig.state() is State.ARMED

    def test_an_unrequested_capture_stop_is_reported_and_settled(self) -> None:
        rig = Rig()
        rig.arm()
        recording_id = rig.record()
        assert rig.feed(CaptureStopped(recording_id)) == [
            StopCapture(recording_id, Outcome.INTERRUPTED),
            ReportError(UNEXPECTED_CAPTURE_STOP),
            HideNotice(recording_id),
        ]
        assert rig.state() is State.ARMED
        assert rig.machine.calls_recorded == 1
        assert rig.feed(OffHook("call")) == []  # still the same call

    @pytest.mark.parametrize(
        "event",
        [
            OffHook("call"),
            OffHook("second line"),
            NoticeElapsed(rec(1)),
            CaptureStopped(rec(0)),
            ConsentConfirmed(rec(0)),
            ConsentDeclined(rec(0)),
            SessionEnded("other"),
            QuotaUsedUp("other"),
        ],
    )
    def test_irrelevant_events_while_recording_are_ignored(self, event: Event) -> None:
        rig = Rig()
        rig.arm()
        rig.record()
        assert rig.feed(event) == []
        assert rig.state() is State.RECORDING

    def test_reaching_the_quota_disarms(self) -> None:
        rig = Rig()
        rig.arm(quota=2)
        rig.record_one_call()
        assert rig.state() is State.ARMED
        recording_id = rig.finish()
        assert rig.feed(CaptureStopped(recording_id)) == [
            CancelTimer(TimerKind.SESSION_EXPIRY, None)
        ]
        assert rig.state() is State.NO_SESSION
        assert rig.machine.calls_recorded == 2
        [rejected] = rig.feed(SessionStarted(rig.make_session("s1")))
        assert isinstance(rejected, Rejected)


# --- FINISHING -------------------------------------------------------------------------


class TestFinishing:
    def test_capture_stopped_counts_the_call_and_rearms(self) -> None:
        rig = Rig()
        rig.arm()
        recording_id = rig.finish()
        assert rig.feed(CaptureStopped(recording_id)) == []
        assert rig.state() is State.ARMED
        assert rig.machine.calls_recorded == 1
        assert rig.machine.recording_id is None

    def test_a_stale_capture_stopped_is_ignored(self) -> None:
        rig = Rig()
        rig.arm()
        rig.finish()
        assert rig.feed(CaptureStopped(rec(0))) == []
        assert rig.state() is State.FINISHING

    def test_the_next_call_during_finishing_is_announced_after_the_stop(self) -> None:
        rig = Rig()
        session = rig.arm()
        first = rig.finish()
        assert rig.feed(OffHook("next")) == []
        assert rig.state() is State.FINISHING
        assert rig.feed(CaptureStopped(first)) == [
            ShowNotice(rec(2), session, LEAD, consent_required=False, personal_allowed=True),
            SetTimer(TimerKind.NOTICE_LEAD, rec(2), rig.clock.now + LEAD),
        ]
        assert rig.state() is State.NOTICE

    def test_the_next_call_is_not_announced_when_the_quota_is_reached(self) -> None:
        rig = Rig()
        rig.arm(quota=1)
        first = rig.finish()
        rig.feed(OffHook("next"))
        assert rig.feed(CaptureStopped(first)) == [CancelTimer(TimerKind.SESSION_EXPIRY, None)]
        assert rig.state() is State.NO_SESSION

    def test_a_next_call_that_ended_before_the_stop_is_not_announced(self) -> None:
        rig = Rig()
        rig.arm()
        first = rig.finish()
        rig.feed(OffHook("next"))
        rig.feed(OnHook("next"))
        assert rig.feed(CaptureStopped(first)) == []
        assert rig.state() is State.ARMED

    @pytest.mark.parametrize("ending", [SessionEnded("s1"), SessionExpired("s1")])
    def test_session_end_while_finishing(self, ending: Event) -> None:
        rig = Rig()
        rig.arm()
        first = rig.finish()
        rig.feed(OffHook("next"))
        assert rig.feed(ending) == [CancelTimer(TimerKind.SESSION_EXPIRY, None)]
        assert rig.state() is State.FINISHING
        assert rig.feed(CaptureStopped(first)) == []
        assert rig.state() is State.NO_SESSION

    def test_quota_used_up_while_finishing(self) -> None:
        rig = Rig()
        rig.arm()
        first = rig.finish()
        assert rig.feed(QuotaUsedUp("s1")) == []
        assert rig.feed(CaptureStopped(first)) == [CancelTimer(TimerKind.SESSION_EXPIRY, None)]
        assert rig.state() is State.NO_SESSION

    def test_personal_call_after_hang_up_marks_the_next_call(self) -> None:
        rig = Rig()
        rig.arm()
        first = rig.finish()
        assert rig.feed(PersonalCallDeclared()) == []
        rig.feed(OffHook("next"))
        assert rig.feed(CaptureStopped(first)) == []
        assert rig.state() is State.DISCARDED
        assert rig.machine.calls_recorded == 1

    def test_personal_call_for_a_waiting_next_call(self) -> None:
        rig = Rig()
        rig.arm()
        first = rig.finish()
        rig.feed(OffHook("next"))
        assert rig.feed(PersonalCallDeclared()) == []
        assert rig.feed(CaptureStopped(first)) == []
        assert rig.state() is State.DISCARDED
        assert rig.machine.calls_recorded == 1

    def test_personal_call_on_the_call_just_recorded_destroys_it(self) -> None:
        rig = Rig()
        rig.arm()
        recording_id = rig.record()
        rig.feed(CaptureError("grab failed"))
        assert rig.feed(PersonalCallDeclared()) == [
            DestroyRecording(recording_id, DiscardReason.PERSONAL_CALL)
        ]
        assert rig.feed(PersonalCallDeclared()) == []
        assert rig.feed(CaptureStopped(recording_id)) == []
        assert rig.machine.calls_recorded == 0
        assert rig.state() is State.DISCARDED
        rig.feed(OnHook("call"))
        assert rig.state() is State.ARMED

    def test_consent_declined_on_the_call_just_recorded_destroys_it(self) -> None:
        rig = consent_rig()
        rig.arm()
        recording_id = rig.record()
        rig.feed(ConsentConfirmed(recording_id))
        rig.feed(CaptureError("grab failed"))
        assert rig.feed(ConsentDeclined(recording_id)) == [
            RecordConsent(recording_id, ConsentDecision.DECLINED),
            DestroyRecording(recording_id, DiscardReason.CONSENT_DECLINED),
        ]
        assert rig.feed(ConsentDeclined(recording_id)) == []
        rig.feed(CaptureStopped(recording_id))
        assert rig.machine.calls_recorded == 0

    def test_personal_call_is_rejected_when_policy_forbids_it(self) -> None:
        rig = no_personal_rig()
        rig.arm()
        rig.finish()
        assert rig.feed(PersonalCallDeclared()) == [
            Rejected(PersonalCallDeclared(), PERSONAL_CALLS_FORBIDDEN)
        ]

    def test_a_new_session_takes_over_after_the_stop_and_the_waiting_call_is_not_recorded(
        self,
    ) -> None:
        rig = Rig()
        rig.arm("s1")
        first = rig.finish()
        rig.feed(OffHook("next"))
        newer = rig.make_session("s2")
        assert rig.feed(SessionStarted(newer)) == []
        assert rig.feed(CaptureStopped(first)) == [
            SetTimer(TimerKind.SESSION_EXPIRY, None, newer.expires_at)
        ]
        assert rig.state() is State.ARMED
        assert rig.feed(OffHook("next")) == []

    def test_pause_while_finishing_is_remembered_for_the_next_capture(self) -> None:
        rig = Rig()
        rig.arm()
        first = rig.finish()
        assert rig.feed(Pause(PauseSource.PAYMENT_WINDOW)) == []
        rig.feed(CaptureStopped(first))
        rig.record()
        assert rig.state() is State.PAUSED

    @pytest.mark.parametrize(
        "event",
        [
            NoticeElapsed(rec(1)),
            ConsentConfirmed(rec(1)),
            ConsentTimedOut(rec(1)),
            OffHook("call"),
        ],
    )
    def test_irrelevant_events_while_finishing_are_ignored(self, event: Event) -> None:
        rig = Rig()
        rig.arm()
        rig.record()
        rig.feed(CaptureError("x"))  # the call is still up, so OffHook is a repeat
        assert rig.feed(event) == []
        assert rig.state() is State.FINISHING

    def test_capture_error_while_finishing_is_reported(self) -> None:
        rig = Rig()
        rig.arm()
        rig.finish()
        assert rig.feed(CaptureError("flush failed")) == [ReportError("flush failed")]
        assert rig.state() is State.FINISHING


# --- DISCARDED -------------------------------------------------------------------------


class TestDiscarded:
    def discarded(self) -> Rig:
        rig = Rig()
        rig.arm()
        rig.notice()
        rig.feed(PersonalCallDeclared())
        assert rig.state() is State.DISCARDED
        return rig

    def test_hang_up_rearms(self) -> None:
        rig = self.discarded()
        assert rig.feed(OnHook("call")) == []
        assert rig.state() is State.ARMED

    @pytest.mark.parametrize("ending", [SessionEnded("s1"), SessionExpired("s1")])
    def test_session_end_while_discarded_leads_to_no_session(self, ending: Event) -> None:
        rig = self.discarded()
        assert rig.feed(ending) == [CancelTimer(TimerKind.SESSION_EXPIRY, None)]
        assert rig.state() is State.DISCARDED
        assert rig.machine.session is None
        assert rig.feed(OnHook("call")) == []
        assert rig.state() is State.NO_SESSION

    def test_quota_used_up_while_discarded_leads_to_no_session(self) -> None:
        rig = self.discarded()
        assert rig.feed(QuotaUsedUp("s1")) == []
        assert rig.feed(OnHook("call")) == [CancelTimer(TimerKind.SESSION_EXPIRY, None)]
        assert rig.state() is State.NO_SESSION

    def test_a_new_session_takes_over_when_the_call_ends(self) -> None:
        rig = self.discarded()
        newer = rig.make_session("s2")
        assert rig.feed(SessionStarted(newer)) == []
        assert rig.feed(OnHook("call")) == [
            SetTimer(TimerKind.SESSION_EXPIRY, None, newer.expires_at)
        ]
        assert rig.machine.session == newer

    @pytest.mark.parametrize(
        "event",
        [
            OffHook("call"),
            NoticeElapsed(rec(1)),
            ConsentConfirmed(rec(1)),
            ConsentDeclined(rec(1)),
            ConsentTimedOut(rec(1)),
            CaptureStopped(rec(1)),
            PersonalCallDeclared(),
            Pause(PauseSource.TRAY),
        ],
    )
    def test_irrelevant_events_while_discarded_are_ignored(self, event: Event) -> None:
        rig = self.discarded()
        rig.clock.advance(LEAD + CONSENT_TIMEOUT)
        assert rig.feed(event) == []
        assert rig.state() is State.DISCARDED

    def test_capture_error_while_discarded_is_reported(self) -> None:
        rig = self.discarded()
        assert rig.feed(CaptureError("late failure")) == [ReportError("late failure")]


# --- Sessions that arrive mid-call -----------------------------------------------------


class TestRecordingOfACallStillInProgress:
    """Capture stopped (failure, session over) but the call goes on: it can still be taken back."""

    def settled_after_a_failure(self, rig: Rig) -> uuid.UUID:
        rig.arm(quota=2)
        recording_id = rig.record()
        rig.feed(CaptureError("grab failed"))
        rig.feed(CaptureStopped(recording_id))
        assert rig.state() is State.ARMED
        assert rig.machine.calls_recorded == 1
        return recording_id

    def test_personal_call_destroys_it_and_gives_the_call_back_to_the_quota(self) -> None:
        rig = Rig()
        recording_id = self.settled_after_a_failure(rig)
        assert rig.feed(PersonalCallDeclared()) == [
            DestroyRecording(recording_id, DiscardReason.PERSONAL_CALL)
        ]
        assert rig.state() is State.DISCARDED
        assert rig.machine.calls_recorded == 0
        assert rig.feed(PersonalCallDeclared()) == []
        rig.feed(OnHook("call"))
        assert rig.state() is State.ARMED

    def test_a_refusal_destroys_it(self) -> None:
        rig = Rig()
        recording_id = self.settled_after_a_failure(rig)
        assert rig.feed(ConsentDeclined(rec(0))) == []
        assert rig.feed(ConsentDeclined(recording_id)) == [
            RecordConsent(recording_id, ConsentDecision.DECLINED),
            DestroyRecording(recording_id, DiscardReason.CONSENT_DECLINED),
        ]
        assert rig.machine.calls_recorded == 0

    def test_after_hang_up_it_is_kept(self) -> None:
        rig = Rig()
        recording_id = self.settled_after_a_failure(rig)
        rig.feed(OnHook("call"))
        assert rig.feed(ConsentDeclined(recording_id)) == []
        assert rig.feed(PersonalCallDeclared()) == []  # marks the next call instead
        assert rig.machine.calls_recorded == 1

    def test_it_can_be_taken_back_after_the_session_ended(self) -> None:
        rig = Rig()
        rig.arm()
        recording_id = rig.record()
        rig.feed(SessionEnded("s1"))
        rig.feed(CaptureStopped(recording_id))
        assert rig.state() is State.NO_SESSION
        assert rig.feed(PersonalCallDeclared()) == [
            DestroyRecording(recording_id, DiscardReason.PERSONAL_CALL)
        ]
        assert rig.feed(PersonalCallDeclared()) == [
            Rejected(PersonalCallDeclared(), NO_SESSION_ACTIVE)
        ]


class TestPendingSession:
    def test_an_ended_pending_session_never_takes_over(self) -> None:
        rig = Rig()
        original = rig.arm("s1")
        rig.notice()
        rig.feed(SessionStarted(rig.make_session("s2")))
        assert rig.feed(SessionEnded("s2")) == []
        rig.feed(OnHook("call"))
        assert rig.machine.session == original
        [rejected] = rig.feed(SessionStarted(rig.make_session("s2")))
        assert isinstance(rejected, Rejected)

    def test_a_pending_session_whose_quota_is_used_up_never_takes_over(self) -> None:
        rig = Rig()
        original = rig.arm("s1")
        rig.notice()
        rig.feed(SessionStarted(rig.make_session("s2")))
        assert rig.feed(QuotaUsedUp("s2")) == []
        rig.feed(OnHook("call"))
        assert rig.machine.session == original

    def test_a_pending_session_that_expired_meanwhile_never_takes_over(self) -> None:
        rig = Rig()
        original = rig.arm("s1")
        rig.notice()
        rig.feed(SessionStarted(rig.make_session("s2", expires_in=1.0)))
        rig.clock.advance(2.0)
        assert rig.feed(OnHook("call")) == [
            HideNotice(rec(1)),
            CancelTimer(TimerKind.NOTICE_LEAD, rec(1)),
        ]
        assert rig.machine.session == original

    def test_the_latest_pending_session_wins(self) -> None:
        rig = Rig()
        rig.arm("s1")
        rig.notice()
        rig.feed(SessionStarted(rig.make_session("s2")))
        latest = rig.make_session("s3")
        rig.feed(SessionStarted(latest))
        rig.feed(OnHook("call"))
        assert rig.machine.session == latest

    def test_a_pending_session_takes_over_at_once_when_the_current_one_ends(self) -> None:
        rig = Rig()
        rig.arm("s1")
        recording_id = rig.notice()
        newer = rig.make_session("s2")
        rig.feed(SessionStarted(newer))
        assert rig.feed(SessionEnded("s1")) == [
            HideNotice(recording_id),
            CancelTimer(TimerKind.NOTICE_LEAD, recording_id),
            CancelTimer(TimerKind.SESSION_EXPIRY, None),
            SetTimer(TimerKind.SESSION_EXPIRY, None, newer.expires_at),
        ]
        assert rig.state() is State.ARMED
        assert rig.feed(OffHook("call")) == []  # the call in progress stays unrecorded

    def test_the_same_session_mid_call_is_updated_at_once(self) -> None:
        rig = Rig()
        rig.arm("s1", expires_in=3600.0)
        recording_id = rig.record()
        shortened = rig.make_session("s1", expires_in=10.0)
        assert rig.feed(SessionStarted(shortened)) == [
            SetTimer(TimerKind.SESSION_EXPIRY, None, shortened.expires_at)
        ]
        rig.clock.advance(10.0)
        assert rig.feed(Pause(PauseSource.TRAY))[0] == StopCapture(
            recording_id, Outcome.INTERRUPTED
        )


def test_a_full_training_session() -> None:
    """Three calls: one recorded, one personal, one refused consent; then the trainer ends it."""
    rig = consent_rig()
    session = rig.arm(quota=2)

    first = rig.record()
    assert rig.feed(ConsentConfirmed(first))[0] == RecordConsent(first, ConsentDecision.CONFIRMED)
    rig.feed(Pause(PauseSource.PAYMENT_WINDOW))
    rig.feed(Resume(PauseSource.PAYMENT_WINDOW))
    rig.feed(OnHook("call"))
    rig.feed(CaptureStopped(first))

    rig.feed(PersonalCallDeclared())
    rig.feed(OffHook("private"))
    rig.feed(OnHook("private"))

    third = rig.notice()
    rig.feed(ConsentDeclined(third))
    rig.feed(OnHook("call"))

    assert rig.state() is State.ARMED
    assert rig.machine.calls_recorded == 1
    assert rig.machine.session == session
    assert rig.feed(SessionEnded("s1")) == [CancelTimer(TimerKind.SESSION_EXPIRY, None)]
    assert rig.state() is State.NO_SESSION
