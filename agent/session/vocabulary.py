"""The recording state machine's vocabulary: its states, the events it hears, the commands it
gives, and the training session and call policy it works under (see agent/session/machine.py).

A recording is named by a `RecordingId` (a UUID) from the moment the machine announces a call:
the same value goes to the notice, the capture pipeline, the spool and the vault.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from enum import Enum
from typing import TypeAlias, get_args

from protocol.recording_vocabulary import ConsentDecision, PauseSource

RecordingId: TypeAlias = uuid.UUID
"""One recording, from the machine's ShowNotice to the vault."""


class State(Enum):
    NO_SESSION = "no_session"
    ARMED = "armed"
    NOTICE = "notice"
    RECORDING = "recording"
    PAUSED = "paused"
    FINISHING = "finishing"
    DISCARDED = "discarded"


MANUAL_PAUSE_SOURCES = frozenset({PauseSource.TRAY, PauseSource.HOTKEY, PauseSource.COMMAND_LINE})


class Outcome(Enum):
    COMPLETE = "complete"
    INTERRUPTED = "interrupted"
    """Capture failed, the session ended mid-call, or the recording is about to be destroyed."""


class DiscardReason(Enum):
    PERSONAL_CALL = "personal_call"
    CONSENT_DECLINED = "consent_declined"
    CONSENT_TIMED_OUT = "consent_timed_out"


class TimerKind(Enum):
    NOTICE_LEAD = "notice_lead"
    CONSENT_DEADLINE = "consent_deadline"
    SESSION_EXPIRY = "session_expiry"


def require_finite(name: str, value: float) -> None:
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number of seconds, got {value!r}")


def require_text(name: str, value: str) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be text, got {value!r}")
    if not value.strip():
        raise ValueError(f"{name} must not be empty")


@dataclass(frozen=True, slots=True)
class TrainingSession:
    """A trainer's permission to record up to ``quota`` calls until ``expires_at``."""

    session_id: str
    purpose: str
    trainer: str
    quota: int
    expires_at: float
    notice_text: str = ""

    def __post_init__(self) -> None:
        require_text("session_id", self.session_id)
        require_text("purpose", self.purpose)
        require_text("trainer", self.trainer)
        # bool is an int subclass; True as a quota is a caller bug, not one call.
        if isinstance(self.quota, bool) or not isinstance(self.quota, int):
            raise TypeError(f"quota must be a whole number of calls, got {self.quota!r}")
        if self.quota < 1:
            raise ValueError(f"quota must be at least 1 call, got {self.quota}")
        require_finite("expires_at", self.expires_at)


@dataclass(frozen=True, slots=True)
class CallPolicy:
    """Managed settings that shape every call (R3, R4, R5)."""

    notice_lead_time_s: float = 5.0
    consent_required: bool = False
    consent_timeout_s: float = 30.0
    """Counted from when the notice is shown."""
    personal_calls_allowed: bool = True

    def __post_init__(self) -> None:
        require_finite("notice_lead_time_s", self.notice_lead_time_s)
        if self.notice_lead_time_s < 0:
            raise ValueError(
                f"notice_lead_time_s must not be negative, got {self.notice_lead_time_s}"
            )
        require_finite("consent_timeout_s", self.consent_timeout_s)
        if self.consent_timeout_s <= 0:
            raise ValueError(f"consent_timeout_s must be positive, got {self.consent_timeout_s}")


# --- Events: what happened -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionStarted:
    session: TrainingSession


@dataclass(frozen=True, slots=True)
class SessionEnded:
    session_id: str


@dataclass(frozen=True, slots=True)
class SessionExpired:
    session_id: str


@dataclass(frozen=True, slots=True)
class QuotaUsedUp:
    session_id: str


@dataclass(frozen=True, slots=True)
class OffHook:
    call_id: str | None = None


@dataclass(frozen=True, slots=True)
class OnHook:
    call_id: str | None = None


@dataclass(frozen=True, slots=True)
class NoticeElapsed:
    recording_id: RecordingId


@dataclass(frozen=True, slots=True)
class Pause:
    source: PauseSource


@dataclass(frozen=True, slots=True)
class Resume:
    source: PauseSource


@dataclass(frozen=True, slots=True)
class PersonalCallDeclared:
    pass


@dataclass(frozen=True, slots=True)
class ConsentConfirmed:
    recording_id: RecordingId


@dataclass(frozen=True, slots=True)
class ConsentDeclined:
    recording_id: RecordingId


@dataclass(frozen=True, slots=True)
class ConsentTimedOut:
    recording_id: RecordingId


@dataclass(frozen=True, slots=True)
class CaptureError:
    reason: str


@dataclass(frozen=True, slots=True)
class CaptureStopped:
    recording_id: RecordingId


Event: TypeAlias = (
    SessionStarted
    | SessionEnded
    | SessionExpired
    | QuotaUsedUp
    | OffHook
    | OnHook
    | NoticeElapsed
    | Pause
    | Resume
    | PersonalCallDeclared
    | ConsentConfirmed
    | ConsentDeclined
    | ConsentTimedOut
    | CaptureError
    | CaptureStopped
)

EVENT_TYPES: tuple[type, ...] = get_args(Event)

# --- Commands: what the caller must do -------------------------------------------------


@dataclass(frozen=True, slots=True)
class ShowNotice:
    recording_id: RecordingId
    session: TrainingSession
    lead_time_s: float
    consent_required: bool
    personal_allowed: bool


@dataclass(frozen=True, slots=True)
class HideNotice:
    recording_id: RecordingId


@dataclass(frozen=True, slots=True)
class StartCapture:
    recording_id: RecordingId
    session_id: str
    purpose: str
    start_paused: bool


@dataclass(frozen=True, slots=True)
class PauseCapture:
    recording_id: RecordingId


@dataclass(frozen=True, slots=True)
class ResumeCapture:
    recording_id: RecordingId


@dataclass(frozen=True, slots=True)
class StopCapture:
    recording_id: RecordingId
    outcome: Outcome


@dataclass(frozen=True, slots=True)
class DestroyRecording:
    recording_id: RecordingId
    reason: DiscardReason


@dataclass(frozen=True, slots=True)
class RecordConsent:
    recording_id: RecordingId
    decision: ConsentDecision
    """Kept with the recording (or its tombstone)."""


@dataclass(frozen=True, slots=True)
class SetTimer:
    timer: TimerKind
    recording_id: RecordingId | None
    fire_at: float


@dataclass(frozen=True, slots=True)
class CancelTimer:
    timer: TimerKind
    recording_id: RecordingId | None


@dataclass(frozen=True, slots=True)
class Rejected:
    event: Event
    reason: str
    """Written for the agent or trainer to read."""


@dataclass(frozen=True, slots=True)
class ReportError:
    reason: str


Command: TypeAlias = (
    ShowNotice
    | HideNotice
    | StartCapture
    | PauseCapture
    | ResumeCapture
    | StopCapture
    | DestroyRecording
    | RecordConsent
    | SetTimer
    | CancelTimer
    | Rejected
    | ReportError
)
