"""Qt on the real test desktop: the tray owner, xdotool, and `FakeControls`, which records what
the UI asks of the core (tests/plugins/qt_desktop.py has the fixtures)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from Xlib.display import Display

from agent.core.view import AgentStatus, SessionSummary
from agent.session.vocabulary import RecordingId, State
from agent.settings.layers import SettingShown
from protocol.recording_vocabulary import PauseSource
from testbed.programs import require_program

_TRAY_SELECTION = "_NET_SYSTEM_TRAY_S0"


def tray_owner(display_name: str) -> int:
    display = Display(display_name)
    try:
        # A Window object at run time, or X.NONE (0), whatever the stubs say.
        owner: object = display.get_selection_owner(display.intern_atom(_TRAY_SELECTION))
        owner_id = getattr(owner, "id", owner)
        return owner_id if isinstance(owner_id, int) else 0
    finally:
        display.close()


def xdotool(*arguments: str) -> None:
    subprocess.run([require_program("xdotool"), *arguments], check=True, timeout=10)


@dataclass
class FakeControls:
    """Records what the UI asks of the core; it decides nothing (the core is tested apart).

    `on_notice_shown` runs inside `notice_shown`, so a test can look at the window at the
    very moment the core would start counting the lead time.
    """

    calls: list[tuple[str, object]] = field(default_factory=list)
    frame: np.ndarray | None = None
    on_notice_shown: Callable[[RecordingId], None] | None = None

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def pause(self, source: PauseSource) -> None:
        self.calls.append(("pause", source))

    def resume(self, source: PauseSource) -> None:
        self.calls.append(("resume", source))

    def declare_personal_call(self) -> None:
        self.calls.append(("declare_personal_call", None))

    def confirm_consent(self, recording_id: RecordingId) -> None:
        self.calls.append(("confirm_consent", recording_id))

    def decline_consent(self, recording_id: RecordingId) -> None:
        self.calls.append(("decline_consent", recording_id))

    def notice_shown(self, recording_id: RecordingId) -> None:
        if self.on_notice_shown is not None:
            self.on_notice_shown(recording_id)
        self.calls.append(("notice_shown", recording_id))

    def preview_frame(self) -> np.ndarray | None:
        self.calls.append(("preview_frame", None))
        return self.frame

    def refresh_recordings(self) -> None:
        self.calls.append(("refresh_recordings", None))

    def open_console(self) -> None:
        self.calls.append(("open_console", None))


def make_status(
    state: State = State.ARMED,
    *,
    paused_by: frozenset[PauseSource] = frozenset(),
    backlog_segments: int = 0,
    backlog_bytes: int = 0,
    upload_note: str = "all recordings uploaded",
    problems: tuple[str, ...] = (),
    settings: tuple[SettingShown, ...] = (),
) -> AgentStatus:
    session = (
        None
        if state is State.NO_SESSION
        else SessionSummary(
            session_id="s-1",
            purpose="Handling refund requests",
            trainer="Dana Trainer",
            calls_left=3,
            expires_at=time.time() + 3600,
        )
    )
    return AgentStatus(
        state=state,
        session=session,
        paused_by=paused_by,
        backlog_segments=backlog_segments,
        backlog_bytes=backlog_bytes,
        upload_note=upload_note,
        problems=problems,
        settings=settings,
    )
