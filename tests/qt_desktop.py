"""Qt on the real test desktop: a system tray host, and a QApplication made after DISPLAY.

Registered as a plugin from the root conftest.py. It replaces pytest-qt's `qapp` fixture so
the QApplication is created only once `x_display` has set DISPLAY; Qt runs on the xcb
platform against Xvfb + openbox, never offscreen. `tray_host` runs `trayer` (without a tray
host `QSystemTrayIcon.isSystemTrayAvailable()` is False) for the modules that need a tray.
`FakeControls` records what the UI asks of the core.

PYTEST_DONT_REWRITE: test modules import this module's helpers before pytest registers it.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pytest
from PySide6.QtWidgets import QApplication, QSystemTrayIcon
from Xlib.display import Display

from agent.core.view import AgentStatus, SessionSummary
from agent.session.vocabulary import RecordingId, State
from agent.settings.layers import SettingShown
from protocol.recording_metadata import PauseSource
from tests.desktop import XServer, _stop_process_group, require_program, wait_for

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


@pytest.fixture(scope="session")
def qapp(x_display: XServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[QApplication]:
    """The one QApplication of the test session, on the xcb platform of the test display."""
    if QApplication.instance() is not None:
        pytest.fail(
            "a QApplication was created before the test desktop was up; it may be on the "
            "wrong display"
        )
    runtime = tmp_path_factory.mktemp("xdg-runtime")
    runtime.chmod(0o700)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DISPLAY", x_display.display)
        patch.setenv("QT_QPA_PLATFORM", "xcb")
        # Qt warns (and the tests fail on Qt warnings) when this is missing.
        patch.setenv("XDG_RUNTIME_DIR", str(runtime))
        # No session bus here: the tray must use XEmbed with trayer, not StatusNotifierItem.
        patch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
        app = QApplication(["callreel-tests"])
        app.setQuitOnLastWindowClosed(False)
        try:
            yield app
        finally:
            for widget in QApplication.topLevelWidgets():
                widget.close()
            app.processEvents()
            # Gone before Xvfb is: Qt exits the process when its X connection breaks.
            with contextlib.suppress(RuntimeError):
                app.shutdown()


@pytest.fixture(scope="module")
def tray_host(
    x_display: XServer, qapp: QApplication, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[int]:
    """`trayer` docked on the test display while one test module runs; yields the X window
    that owns the tray selection once Qt sees the tray.

    Per module, not per session: trayer is a dock that openbox keeps above every window, so
    it would break other modules' stacking checks (Desktop.raise_window) if left running.
    """
    log = tmp_path_factory.mktemp("trayer") / "trayer.log"
    with log.open("wb") as log_file:
        trayer = subprocess.Popen(
            [require_program("trayer"), "--SetDockType", "true"],
            env={**os.environ, "DISPLAY": x_display.display},
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=log_file,
            start_new_session=True,
        )
    try:

        def owned() -> int:
            if trayer.poll() is not None:
                pytest.fail(f"trayer exited: {log.read_text(errors='replace')[-2000:]}")
            return tray_owner(x_display.display)

        owner = wait_for(owned, what=f"trayer to own {_TRAY_SELECTION}", timeout=10.0)

        def qt_sees_tray() -> bool:
            qapp.processEvents()
            return QSystemTrayIcon.isSystemTrayAvailable()

        wait_for(qt_sees_tray, what="Qt to see the system tray", timeout=10.0)
        yield owner
    finally:
        qapp.processEvents()
        _stop_process_group(trayer)


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


@pytest.fixture
def controls() -> FakeControls:
    return FakeControls()


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
