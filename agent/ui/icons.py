"""How the recording state looks: a tray icon drawn in code, and the same state in words.

Colour is never the only signal (people with colour blindness, and screen readers): every
icon has a distinct shape, and the tooltip, menu and window say the state in words.
"""

from __future__ import annotations

import datetime
from enum import Enum

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QIcon, QPainter, QPen, QPixmap

from agent.core.view import AgentStatus
from agent.session.vocabulary import State
from protocol.recording_vocabulary import PauseSource

ICON_SIZE = 64

STATE_COLOURS = {
    State.NO_SESSION: QColor("#8a8a8a"),
    State.ARMED: QColor("#1e6fd9"),
    State.NOTICE: QColor("#f0a500"),
    State.RECORDING: QColor("#d92323"),
    State.PAUSED: QColor("#d92323"),
    State.FINISHING: QColor("#2a8a8a"),
    State.DISCARDED: QColor("#5a5a5a"),
}

STATE_WORDS = {
    State.NO_SESSION: "Not recording: no training session",
    State.ARMED: "Training session active: the next call is announced before recording",
    State.NOTICE: "Notice on screen: recording starts soon",
    State.RECORDING: "Recording this call",
    State.PAUSED: "Recording paused: nothing is being stored",
    State.FINISHING: "Finishing the recording",
    State.DISCARDED: "Not recording this call: nothing of it is kept",
}

PAUSE_SOURCE_WORDS = {
    PauseSource.TRAY: "the tray menu",
    PauseSource.HOTKEY: "the hotkey",
    PauseSource.COMMAND_LINE: "the command line",
    PauseSource.PAYMENT_WINDOW: "a payment window",
}


class Badge(Enum):
    PROBLEM = "problem"
    BACKLOG = "backlog"


def badge_for(status: AgentStatus) -> Badge | None:
    if status.problems:
        return Badge.PROBLEM
    if status.backlog_segments > 0:
        return Badge.BACKLOG
    return None


def state_icon(state: State, badge: Badge | None = None) -> QIcon:
    return QIcon(state_pixmap(state, badge))


def state_pixmap(state: State, badge: Badge | None = None) -> QPixmap:
    pixmap = QPixmap(ICON_SIZE, ICON_SIZE)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        _draw_state(painter, state)
        if badge is not None:
            _draw_badge(painter, badge)
    finally:
        painter.end()
    return pixmap


def _draw_state(painter: QPainter, state: State) -> None:
    colour = STATE_COLOURS[state]
    disc = QRectF(6, 6, 52, 52)
    if state is State.NO_SESSION:
        # Hollow: nothing is armed, nothing can be captured.
        painter.setPen(QPen(colour, 6))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawEllipse(disc.adjusted(3, 3, -3, -3))
        return
    painter.setPen(QPen(QColor("#202020"), 2))
    painter.setBrush(QBrush(colour))
    if state is State.ARMED:
        # A ring with a hole: ready, not yet recording.
        painter.drawEllipse(disc)
        painter.setBrush(QBrush(QColor("#ffffff")))
        painter.drawEllipse(QRectF(22, 22, 20, 20))
    elif state is State.NOTICE:
        # A warning triangle: the agent must read the notice now.
        painter.drawPolygon(
            [QPointF(32, 4), QPointF(60, 56), QPointF(4, 56)],
        )
        painter.setPen(QPen(QColor("#202020"), 6, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
        painter.drawLine(QPointF(32, 22), QPointF(32, 38))
        painter.drawPoint(QPointF(32, 48))
    elif state is State.RECORDING:
        painter.drawEllipse(disc)
    elif state is State.PAUSED:
        painter.drawEllipse(disc)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QBrush(QColor("#ffffff")))
        painter.drawRect(QRectF(22, 18, 7, 28))
        painter.drawRect(QRectF(35, 18, 7, 28))
    elif state is State.FINISHING:
        # A square: the "stop" symbol, the recording is being closed.
        painter.drawRoundedRect(QRectF(10, 10, 44, 44), 6, 6)
    else:
        painter.drawEllipse(disc)
        painter.setPen(QPen(QColor("#ffffff"), 6))
        painter.drawLine(QPointF(18, 46), QPointF(46, 18))


def _draw_badge(painter: QPainter, badge: Badge) -> None:
    box = QRectF(38, 38, 25, 25)
    painter.setPen(QPen(QColor("#ffffff"), 2))
    if badge is Badge.PROBLEM:
        painter.setBrush(QBrush(QColor("#8b0000")))
        painter.drawEllipse(box)
        font = QFont()
        font.setBold(True)
        font.setPixelSize(18)
        painter.setFont(font)
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, "!")
    else:
        # An up arrow: recordings waiting to be uploaded.
        painter.setBrush(QBrush(QColor("#303030")))
        painter.drawEllipse(box)
        painter.setBrush(QBrush(QColor("#ffffff")))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.drawPolygon([QPointF(50.5, 42), QPointF(58, 52), QPointF(43, 52)])
        painter.drawRect(QRectF(48.5, 51, 4, 7))


def headline(status: AgentStatus) -> str:
    """The state in one line of words."""
    words = STATE_WORDS[status.state]
    if status.paused_by:
        sources = sorted(PAUSE_SOURCE_WORDS[source] for source in status.paused_by)
        paused = "paused by " + " and ".join(sources)
        if status.state is State.PAUSED:
            return f"{words} ({paused})"
        return f"{words}; {paused}"
    return words


def human_bytes(count: int) -> str:
    size = float(count)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{int(size)} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


def session_line(status: AgentStatus) -> str:
    session = status.session
    if session is None:
        return "No training session"
    calls = "1 call left" if session.calls_left == 1 else f"{session.calls_left} calls left"
    return f"Session: {session.purpose}, started by {session.trainer}, {calls}"


def expiry_line(status: AgentStatus) -> str:
    if status.session is None:
        return ""
    ends = datetime.datetime.fromtimestamp(status.session.expires_at).astimezone()
    return f"Session ends {ends:%Y-%m-%d %H:%M}"


def backlog_line(status: AgentStatus) -> str:
    if status.backlog_segments == 0:
        return "Nothing waiting to upload"
    segments = (
        "1 segment" if status.backlog_segments == 1 else f"{status.backlog_segments} segments"
    )
    return f"Waiting to upload: {segments} ({human_bytes(status.backlog_bytes)})"


def status_lines(status: AgentStatus) -> list[str]:
    """Everything the tooltip and the window say about the state, one line each."""
    lines = [headline(status), session_line(status)]
    if status.session is not None:
        lines.append(expiry_line(status))
    lines.append(backlog_line(status))
    if status.upload_note:
        lines.append(status.upload_note)
    lines.extend(f"Problem: {problem}" for problem in status.problems)
    return lines
