"""The Qt side of agent.core.view.AgentView: each call becomes a signal.

The core calls these methods from its own thread. `QtAgentView` is created on the GUI thread,
so Qt queues each emission to the GUI thread's event loop for every receiver living there;
widgets are never touched from the core's thread.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from agent.core.view import AgentStatus, NoticeContent, RecordingShown
from agent.session.vocabulary import RecordingId


class QtAgentView(QObject):
    status_changed = Signal(object)
    """AgentStatus"""
    notice_requested = Signal(object)
    """NoticeContent"""
    notice_withdrawn = Signal(object)
    """recording id"""
    recordings_arrived = Signal(list)
    """list[RecordingShown]"""
    message = Signal(str)
    link_opened = Signal(str)
    """a URL for the desktop's browser"""

    def show_status(self, status: AgentStatus) -> None:
        self.status_changed.emit(status)

    def show_notice(self, notice: NoticeContent) -> None:
        self.notice_requested.emit(notice)

    def hide_notice(self, recording_id: RecordingId) -> None:
        self.notice_withdrawn.emit(recording_id)

    def show_recordings(self, recordings: list[RecordingShown]) -> None:
        # A copy: the core may keep mutating its own list after the call returns.
        self.recordings_arrived.emit(list(recordings))

    def tell(self, message: str) -> None:
        self.message.emit(message)

    def open_link(self, url: str) -> None:
        self.link_opened.emit(url)
