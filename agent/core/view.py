"""What the agent's core tells its user interface, and what the interface may ask of it.

No Qt here: the core (agent/core/event_loop.py) calls an `AgentView` from its own thread, and
the Qt adapter in agent/ui/ turns each call into a queued signal for the GUI thread. Everything the
interface can do goes through `AgentControls`, whose methods only enqueue and return, so a
click never waits on capture, the vault or the disk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from agent.session.vocabulary import RecordingId, State
from agent.settings.layers import SettingShown
from protocol.recording_vocabulary import PauseSource


@dataclass(frozen=True, slots=True)
class NoticeContent:
    """Everything the on-screen notice says before capture starts (R3)."""

    recording_id: RecordingId
    purpose: str
    trainer: str
    notice_text: str
    """The trainer's own words for this session."""
    captured_window: str
    """Which window is recorded, for people: e.g. 'the "Orders - CRM" window (crm)'."""
    captured_audio: str
    """e.g. 'your microphone and the caller'."""
    keep_days: int
    delete_days: int
    lead_time_s: float
    consent_required: bool
    consent_timeout_s: float
    personal_allowed: bool


@dataclass(frozen=True, slots=True)
class SessionSummary:
    session_id: str
    purpose: str
    trainer: str
    calls_left: int
    expires_at: float
    """Epoch seconds."""


@dataclass(frozen=True, slots=True)
class AgentStatus:
    state: State
    session: SessionSummary | None
    paused_by: frozenset[PauseSource]
    backlog_segments: int
    backlog_bytes: int
    upload_note: str
    """One line for people: 'all recordings uploaded', 'vault unreachable, retrying in 30 s'."""
    problems: tuple[str, ...]
    """Failures the agent must see (docs/design.md, invariant 5): upload refusals, capture
    errors."""
    settings: tuple[SettingShown, ...]


@dataclass(frozen=True, slots=True)
class AccessShown:
    at: str
    """ISO 8601, as the vault wrote it."""
    who: str
    action: str
    purpose: str


@dataclass(frozen=True, slots=True)
class RecordingShown:
    recording_id: RecordingId
    started_at: str
    state: str
    """'waiting to upload', 'uploaded', 'interrupted', 'refused by the vault: ...'."""
    accesses: tuple[AccessShown, ...]


class AgentView(Protocol):
    """Implemented by the UI adapter; every method may be called from any thread."""

    def show_status(self, status: AgentStatus) -> None: ...

    def show_notice(self, notice: NoticeContent) -> None: ...

    def hide_notice(self, recording_id: RecordingId) -> None: ...

    def show_recordings(self, recordings: list[RecordingShown]) -> None: ...

    def tell(self, message: str) -> None:
        """A short message for the agent (a refused action, a recording discarded)."""
        ...

    def open_link(self, url: str) -> None:
        """Open `url` in the desktop's browser (the console, signed in once as this agent)."""
        ...


class AgentControls(Protocol):
    """What the UI may ask; each method enqueues and returns at once."""

    def pause(self, source: PauseSource) -> None: ...

    def resume(self, source: PauseSource) -> None: ...

    def declare_personal_call(self) -> None: ...

    def confirm_consent(self, recording_id: RecordingId) -> None: ...

    def decline_consent(self, recording_id: RecordingId) -> None: ...

    def notice_shown(self, recording_id: RecordingId) -> None:
        """The notice for this recording is on screen now; its lead time counts from here."""
        ...

    def preview_frame(self) -> np.ndarray | None:
        """The masked pixels as they would be kept now (BGRA, black while paused); None when
        no window backend works. Runs on the caller's thread; takes a few milliseconds."""
        ...

    def refresh_recordings(self) -> None:
        """Ask the vault for this agent's recordings and who accessed them; the answer comes
        through AgentView.show_recordings."""
        ...

    def open_console(self) -> None:
        """Ask the vault for a one-time link to this agent's own recordings in the console;
        it comes through AgentView.open_link (or AgentView.tell says why not)."""
        ...
