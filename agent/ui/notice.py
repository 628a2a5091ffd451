"""The call notice (R3, R4, R5): on top, on the primary screen's top-right, and never taking
the keyboard away from the softphone.

The core counts the lead time from `controls.notice_shown`, so this window reports itself
only once the window system says it is actually visible: the first Expose event of its
QWindow with `isExposed()` true (on X11 that follows the server's Expose after the window
manager has mapped the frame), never merely when `show()` was called.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtGui import QGuiApplication, QShowEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from agent.core.view import AgentControls, NoticeContent
from agent.session.vocabulary import RecordingId
from agent.ui.literal_text import literal, one_line

HEADLINE = "This call will be recorded for staff training"
TICK_MS = 200
NOTICE_WIDTH = 420
_MARGIN = 16
TRAINER_NOTE_MAX_HEIGHT = 120
"""Pixels: a long note scrolls inside the notice instead of pushing its statements away."""


def retention_text(notice: NoticeContent) -> str:
    return f"Kept for {notice.keep_days} days, deleted after {notice.delete_days} days."


def countdown_text(lead_time_s: float, elapsed_s: float | None) -> str:
    """Whole seconds left, rounded up so '0 s' is never shown while still waiting."""
    if elapsed_s is None:
        return f"Recording starts {math.ceil(lead_time_s)} s after this notice appears"
    left = lead_time_s - elapsed_s
    if left <= 0:
        return "Recording"
    return f"Recording starts in {math.ceil(left)} s"


class NoticeWindow(QWidget):
    def __init__(
        self,
        notice: NoticeContent,
        controls: AgentControls,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            None,
            Qt.WindowType.Tool
            | Qt.WindowType.FramelessWindowHint
            | Qt.WindowType.WindowStaysOnTopHint
            | Qt.WindowType.WindowDoesNotAcceptFocus,
        )
        self.notice = notice
        self._controls = controls
        self._clock = clock
        self.shown_at: float | None = None
        """time.monotonic() when the window was first exposed and notice_shown was sent."""
        self._consent_answered = False
        self.setAttribute(Qt.WidgetAttribute.WA_ShowWithoutActivating)
        self.setWindowTitle("Callreel: this call will be recorded")
        self.setObjectName("callreelNotice")
        self.setStyleSheet(
            "#callreelNotice { background: #fff8e1; border: 3px solid #f0a500; }"
            "QLabel#headline { font-weight: bold; font-size: 15px; }"
            "QLabel#countdown { font-weight: bold; color: #b00000; }"
        )
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground)

        # The notice's own statements come first, so nothing the trainer writes can push
        # them out of sight; everything a person wrote is shown literally (agent/ui/literal_text).
        layout = QVBoxLayout(self)
        self.headline_label = self._label(HEADLINE, layout, "headline")
        self.captured_label = self._label(
            f"Recorded: {one_line(notice.captured_window)} and {notice.captured_audio}. "
            "Nothing else on your screen.",
            layout,
        )
        self.retention_label = self._label(retention_text(notice), layout)
        self.tell_caller_label = self._label(
            "Tell the caller that this call is recorded for staff training.", layout
        )
        self.countdown_label = self._label(countdown_text(notice.lead_time_s, None), layout)
        self.countdown_label.setObjectName("countdown")
        self.purpose_label = self._label(f"Purpose: {one_line(notice.purpose)}", layout)
        self.trainer_label = self._label(f"Session started by: {one_line(notice.trainer)}", layout)
        self.notice_text_label = self._label(literal(notice.notice_text), layout)
        self.trainer_note = self._scroll_when_long(self.notice_text_label, layout)

        self.consent_label = self._label("", layout)
        self.agreed_button = QPushButton("Caller agreed")
        self.declined_button = QPushButton("Caller declined")
        self.personal_button = QPushButton("Personal call — don't record")
        buttons = QHBoxLayout()
        for button in (self.agreed_button, self.declined_button, self.personal_button):
            # Clicking must not pull focus from the softphone either.
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            buttons.addWidget(button)
        layout.addLayout(buttons)
        for widget in (self.consent_label, self.agreed_button, self.declined_button):
            widget.setVisible(notice.consent_required)
        self.personal_button.setVisible(notice.personal_allowed)
        self.agreed_button.clicked.connect(self._agreed)
        self.declined_button.clicked.connect(self._declined)
        self.personal_button.clicked.connect(self._personal)

        self._timer = QTimer(self)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._tick)
        self._watched_window: QObject | None = None
        self.setFixedWidth(NOTICE_WIDTH)
        self._tick()

    @property
    def recording_id(self) -> RecordingId:
        return self.notice.recording_id

    def present(self) -> None:
        """Show on the primary screen's top-right, above everything, without taking focus."""
        self.adjustSize()
        screen = QGuiApplication.primaryScreen()
        if screen is not None:
            area = screen.availableGeometry()
            self.move(area.right() - self.width() - _MARGIN + 1, area.top() + _MARGIN)
        self.show()

    def withdraw(self, recording_id: RecordingId) -> bool:
        """Hide if this is the notice of `recording_id`; another recording's withdrawal must
        not take this notice off screen."""
        if recording_id != self.notice.recording_id:
            return False
        self._timer.stop()
        self.hide()
        return True

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        handle = self.windowHandle()
        if handle is not None and self._watched_window is not handle:
            handle.installEventFilter(self)
            self._watched_window = handle
        self._timer.start()
        self._report_if_exposed()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if watched is self._watched_window and event.type() == QEvent.Type.Expose:
            # The filter runs before the widget paints in response to the expose: report
            # once the event has been handled, so the text is on screen, not just the frame.
            QTimer.singleShot(0, self._report_if_exposed)
        return False

    def _report_if_exposed(self) -> None:
        if self.shown_at is not None or not self.isVisible():
            return
        handle = self.windowHandle()
        if handle is None or not handle.isExposed():
            return
        self.shown_at = self._clock()
        self._controls.notice_shown(self.notice.recording_id)
        self._tick()

    def _elapsed(self) -> float | None:
        return None if self.shown_at is None else self._clock() - self.shown_at

    def _tick(self) -> None:
        elapsed = self._elapsed()
        self.countdown_label.setText(countdown_text(self.notice.lead_time_s, elapsed))
        if self.notice.consent_required and not self._consent_answered:
            self._show_consent_time(elapsed)

    def _show_consent_time(self, elapsed: float | None) -> None:
        timeout = self.notice.consent_timeout_s
        if elapsed is not None and elapsed >= timeout:
            self.consent_label.setText("No answer in time: nothing of this call will be kept.")
            self.agreed_button.setEnabled(False)
            self.declined_button.setEnabled(False)
            return
        left = math.ceil(timeout - (elapsed or 0.0))
        self.consent_label.setText(
            f"Did the caller agree to the recording? Answer within {left} s, or nothing of "
            "this call is kept."
        )

    def _agreed(self) -> None:
        self._answer_consent("Caller agreed: the recording is kept.")
        self._controls.confirm_consent(self.notice.recording_id)

    def _declined(self) -> None:
        self._answer_consent("Caller declined: nothing of this call is kept.")
        self._controls.decline_consent(self.notice.recording_id)

    def _answer_consent(self, text: str) -> None:
        self._consent_answered = True
        self.consent_label.setText(text)
        self.agreed_button.setEnabled(False)
        self.declined_button.setEnabled(False)

    def _personal(self) -> None:
        self.personal_button.setEnabled(False)
        self._controls.declare_personal_call()

    def _label(self, text: str, layout: QVBoxLayout, name: str = "") -> QLabel:
        label = QLabel(text)
        label.setTextFormat(Qt.TextFormat.PlainText)
        label.setWordWrap(True)
        if name:
            label.setObjectName(name)
        layout.addWidget(label)
        return label

    def _scroll_when_long(self, label: QLabel, layout: QVBoxLayout) -> QScrollArea:
        """Moves `label` into a scroll area as tall as it needs, up to
        TRAINER_NOTE_MAX_HEIGHT, so a long text scrolls instead of growing the notice."""
        area = QScrollArea()
        layout.replaceWidget(label, area)
        area.setWidget(label)
        area.setWidgetResizable(True)
        area.setFrameShape(QFrame.Shape.NoFrame)
        area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        area.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        margins = layout.contentsMargins()
        needed = label.heightForWidth(NOTICE_WIDTH - margins.left() - margins.right())
        area.setFixedHeight(min(max(needed, 0), TRAINER_NOTE_MAX_HEIGHT))
        area.setVisible(bool(label.text()))
        return area
