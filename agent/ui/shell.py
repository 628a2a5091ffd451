"""Puts the tray, the notices and the agent window together on the bridge's signals.

The integrator creates the QApplication and the core and passes the bridge and the controls
in; nothing here starts an event loop.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QSystemTrayIcon

from agent.core.view import AgentControls, AgentStatus, NoticeContent, RecordingShown
from agent.hotkey.base import GlobalHotkey
from agent.session.vocabulary import RecordingId
from agent.ui.agent_window import AgentWindow
from agent.ui.bridge import QtAgentView
from agent.ui.literal_text import literal
from agent.ui.notice import NoticeWindow
from agent.ui.tray import TrayIndicator
from protocol.recording_vocabulary import PauseSource

_log = logging.getLogger(__name__)


class AgentShell(QObject):
    # Emitted from the hotkey backend's thread; queued to the GUI thread, where the shell
    # lives, because the shell is the receiver.
    _hotkey_pressed = Signal()

    def __init__(
        self, view: QtAgentView, controls: AgentControls, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._controls = controls
        self.last_status: AgentStatus | None = None
        self.tray = TrayIndicator(controls, self)
        self.window = AgentWindow(controls)
        self.notices: dict[RecordingId, NoticeWindow] = {}
        self.current_notice: NoticeWindow | None = None
        self._hotkey: GlobalHotkey | None = None

        view.status_changed.connect(self._on_status)
        view.notice_requested.connect(self._on_notice)
        view.notice_withdrawn.connect(self._on_notice_withdrawn)
        view.recordings_arrived.connect(self._on_recordings)
        view.message.connect(self._on_message)
        view.link_opened.connect(self._on_link)
        self.tray.open_requested.connect(self.open_window)
        self.tray.console_requested.connect(controls.open_console)
        self.window.console_requested.connect(controls.open_console)
        self._hotkey_pressed.connect(self.toggle_pause_from_hotkey)
        self.tray.show()

    @Slot()
    def open_window(self) -> None:
        self.window.show()
        self.window.raise_()
        self.window.activateWindow()
        self._controls.refresh_recordings()

    def start_hotkey(self, hotkey: GlobalHotkey) -> None:
        """Grab the pause hotkey; raises HotkeyUnavailableError with the reason."""
        self.stop_hotkey()
        hotkey.start(self._hotkey_pressed.emit)
        self._hotkey = hotkey

    def stop_hotkey(self) -> None:
        hotkey, self._hotkey = self._hotkey, None
        if hotkey is not None:
            hotkey.stop()

    @Slot()
    def toggle_pause_from_hotkey(self) -> None:
        paused_by = self.last_status.paused_by if self.last_status is not None else frozenset()
        if PauseSource.HOTKEY in paused_by:
            self._controls.resume(PauseSource.HOTKEY)
        else:
            self._controls.pause(PauseSource.HOTKEY)

    def close(self) -> None:
        self.stop_hotkey()
        for notice in self.notices.values():
            notice.close()
            notice.deleteLater()
        self.notices.clear()
        self.current_notice = None
        self.window.close()
        self.tray.hide()

    @Slot(object)
    def _on_status(self, status: AgentStatus) -> None:
        self.last_status = status
        self.tray.update_status(status)
        self.window.update_status(status)

    @Slot(object)
    def _on_notice(self, content: NoticeContent) -> None:
        if content.recording_id in self.notices:
            return
        notice = NoticeWindow(content, self._controls)
        self.notices[content.recording_id] = notice
        self.current_notice = notice
        notice.present()

    @Slot(str)
    def _on_notice_withdrawn(self, recording_id: RecordingId) -> None:
        notice = self.notices.pop(recording_id, None)
        if notice is None:
            return
        notice.withdraw(recording_id)
        notice.deleteLater()
        if self.current_notice is notice:
            self.current_notice = None

    @Slot(list)
    def _on_recordings(self, recordings: list[RecordingShown]) -> None:
        self.window.show_recordings(recordings)

    @Slot(str)
    def _on_link(self, url: str) -> None:
        # Only the vault's own one-time sign-in reaches here (DeviceClient checks it).
        if not QDesktopServices.openUrl(QUrl(url)):
            self._on_message("no browser could be started for your recordings")

    @Slot(str)
    def _on_message(self, message: str) -> None:
        _log.info("told the agent: %s", message)
        self.tray.showMessage("Callreel", literal(message), QSystemTrayIcon.MessageIcon.Information)
