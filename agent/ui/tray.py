"""The tray indicator: the recording state at all times (R3, R20), pause (R6), personal
call (R4) and the effective settings with the managed ones marked (R22).

There is deliberately no "Quit": the agent starts at logon for every user under managed
deployment (R22), and quitting would be a way to switch recording off and to stop uploading
the spool, which agents may not do. Pause and "personal call" are the agent's ways to keep a
call out of a recording, and both are logged by the core.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from agent.core.view import AgentControls, AgentStatus
from agent.session.vocabulary import State
from agent.settings.layers import SettingShown
from agent.ui.icons import badge_for, headline, state_icon, status_lines
from agent.ui.literal_text import menu_text, tooltip_text
from protocol.recording_vocabulary import PauseSource

PERSONAL_CALLS_SETTING = "personal_calls_allowed"
MANAGED_SUFFIX = " (managed by your organisation)"
_NO_SESSION_STATUS = AgentStatus(
    state=State.NO_SESSION,
    session=None,
    paused_by=frozenset(),
    backlog_segments=0,
    backlog_bytes=0,
    upload_note="",
    problems=(),
    settings=(),
)
# Before the call ("the next call is personal") or during it; once a call is discarded
# there is nothing left to keep out.
_PERSONAL_CALL_STATES = frozenset(
    {State.ARMED, State.NOTICE, State.RECORDING, State.PAUSED, State.FINISHING}
)
_FALSE_WORDS = frozenset({"false", "no", "0", "off"})


def personal_calls_allowed(settings: tuple[SettingShown, ...]) -> bool:
    """Whether policy lets the agent mark calls personal; allowed unless a setting says no
    (CallPolicy's own default), and the core refuses it anyway when policy forbids it."""
    for setting in settings:
        if setting.name == PERSONAL_CALLS_SETTING:
            return setting.value.strip().lower() not in _FALSE_WORDS
    return True


def setting_text(setting: SettingShown) -> str:
    text = f"{setting.name}: {setting.value}"
    return text + MANAGED_SUFFIX if setting.source == "managed" else text


class TrayIndicator(QSystemTrayIcon):
    open_requested = Signal()
    console_requested = Signal()

    def __init__(self, controls: AgentControls, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._controls = controls
        self.status = _NO_SESSION_STATUS
        # QSystemTrayIcon does not own its menu: keep it alive here.
        self.menu = QMenu()
        self.status_action = self._info_line()
        self.session_action = self._info_line()
        self.upload_action = self._info_line()
        self.problems_separator = self.menu.addSeparator()
        self.problem_actions: list[QAction] = []
        self._controls_separator = self.menu.addSeparator()
        self.pause_action = self.menu.addAction("Pause recording")
        self.pause_action.triggered.connect(self._pause)
        self.resume_action = self.menu.addAction("Resume recording")
        self.resume_action.triggered.connect(self._resume)
        self.personal_action = self.menu.addAction("This call is personal — don't record")
        self.personal_action.triggered.connect(self._personal)
        self.menu.addSeparator()
        self.open_action = self.menu.addAction("Open Callreel")
        self.open_action.triggered.connect(self.open_requested)
        self.console_action = self.menu.addAction("My recordings in the browser")
        self.console_action.triggered.connect(self.console_requested)
        self.settings_menu = self.menu.addMenu("Settings")
        self._settings_shown: tuple[SettingShown, ...] | None = None
        self.setContextMenu(self.menu)
        self.activated.connect(self._activated)
        self.update_status(_NO_SESSION_STATUS)

    def update_status(self, status: AgentStatus) -> None:
        self.status = status
        self.setIcon(state_icon(status.state, badge_for(status)))
        lines = status_lines(status)
        self.setToolTip(tooltip_text(lines))
        self.status_action.setText(menu_text(headline(status)))
        self.session_action.setText(menu_text(lines[1]))
        self.upload_action.setText(menu_text(status.upload_note or ""))
        self.upload_action.setVisible(bool(status.upload_note))
        self._show_problems(status.problems)
        session_active = status.state is not State.NO_SESSION
        paused_by_tray = PauseSource.TRAY in status.paused_by
        self.pause_action.setVisible(not paused_by_tray)
        self.resume_action.setVisible(paused_by_tray)
        self.pause_action.setEnabled(session_active)
        self.resume_action.setEnabled(session_active)
        allowed = personal_calls_allowed(status.settings)
        self.personal_action.setVisible(allowed)
        self.personal_action.setEnabled(allowed and status.state in _PERSONAL_CALL_STATES)
        if status.settings != self._settings_shown:
            self._show_settings(status.settings)

    def setting_actions(self) -> list[QAction]:
        return [action for action in self.settings_menu.actions() if not action.isSeparator()]

    def _info_line(self) -> QAction:
        action = self.menu.addAction("")
        action.setEnabled(False)
        return action

    def _show_problems(self, problems: tuple[str, ...]) -> None:
        for action in self.problem_actions:
            self.menu.removeAction(action)
            action.deleteLater()
        self.problem_actions = []
        for problem in problems:
            action = QAction(menu_text(f"Problem: {problem}"), self.menu)
            action.setEnabled(False)
            self.menu.insertAction(self._controls_separator, action)
            self.problem_actions.append(action)
        self.problems_separator.setVisible(bool(problems))

    def _show_settings(self, settings: tuple[SettingShown, ...]) -> None:
        # Rebuilt only when the settings change, so an open submenu is not torn down by
        # every status update.
        self.settings_menu.clear()
        self._settings_shown = settings
        if not settings:
            self.settings_menu.addAction("No settings reported").setEnabled(False)
            return
        for setting in settings:
            action = self.settings_menu.addAction(menu_text(setting_text(setting)))
            managed = setting.source == "managed"
            action.setEnabled(not managed)
            action.setToolTip(
                "Set by your organisation; you cannot change it."
                if managed
                else f"Your value ({setting.source})."
            )

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (
            QSystemTrayIcon.ActivationReason.Trigger,
            QSystemTrayIcon.ActivationReason.DoubleClick,
        ):
            self.open_requested.emit()

    def _pause(self) -> None:
        self._controls.pause(PauseSource.TRAY)

    def _resume(self) -> None:
        self._controls.resume(PauseSource.TRAY)

    def _personal(self) -> None:
        self._controls.declare_personal_call()
