"""The agent's own window (R14, R20): the state, a live preview of exactly what would be
kept, and the agent's recordings with who accessed them."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QHideEvent, QImage, QPixmap, QShowEvent
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from agent.core.view import AgentControls, AgentStatus, RecordingShown
from agent.ui.icons import backlog_line, expiry_line, headline, session_line
from agent.ui.literal_text import one_line

PREVIEW_INTERVAL_MS = 500
PREVIEW_CAPTION = "Exactly the pixels that would be kept: everything else is black."
NO_PREVIEW = "No preview: the business window cannot be found on this desktop."
RECORDING_COLUMNS = ("Started", "State", "Who", "Action", "Purpose", "When")


def frame_to_image(frame: np.ndarray) -> QImage:
    """A BGRA HxWx4 uint8 frame as an independent QImage.

    Format_RGB32 stores 0xffRRGGBB words, which on little-endian machines are the bytes
    B, G, R, A: the frame's layout. RGB32 ignores alpha, as the recording does. The copy
    detaches the image from the numpy buffer, which the caller may free or reuse.
    """
    if frame.ndim != 3 or frame.shape[2] != 4 or frame.dtype != np.uint8:
        raise ValueError(f"expected a BGRA uint8 HxWx4 frame, got {frame.dtype} {frame.shape}")
    pixels = np.ascontiguousarray(frame)
    height, width = pixels.shape[:2]
    image = QImage(pixels.data, width, height, pixels.strides[0], QImage.Format.Format_RGB32)
    return image.copy()


class AgentWindow(QWidget):
    console_requested = Signal()
    """The agent asked to see their recordings, notes and who opened them in the console."""

    def __init__(self, controls: AgentControls, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._controls = controls
        self.setWindowTitle("Callreel")
        layout = QVBoxLayout(self)

        status_box = QGroupBox("Status")
        status_layout = QVBoxLayout(status_box)
        self.state_label = QLabel("Not recording: no training session")
        self.session_label = QLabel("No training session")
        self.expiry_label = QLabel("")
        self.backlog_label = QLabel("Nothing waiting to upload")
        self.upload_label = QLabel("")
        self.problems_label = QLabel("")
        self.problems_label.setStyleSheet("color: #b00000;")
        for label in (
            self.state_label,
            self.session_label,
            self.expiry_label,
            self.backlog_label,
            self.upload_label,
            self.problems_label,
        ):
            # Session, upload and problem lines carry words from the vault: never markup.
            label.setTextFormat(Qt.TextFormat.PlainText)
            label.setWordWrap(True)
            status_layout.addWidget(label)
        layout.addWidget(status_box)

        preview_box = QGroupBox("What would be recorded")
        preview_layout = QVBoxLayout(preview_box)
        self.preview_label = QLabel(NO_PREVIEW)
        self.preview_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview_label.setMinimumSize(480, 270)
        self.preview_label.setStyleSheet("background: #000000; color: #ffffff;")
        self.preview_caption = QLabel(PREVIEW_CAPTION)
        self.preview_caption.setTextFormat(Qt.TextFormat.PlainText)
        preview_layout.addWidget(self.preview_label)
        preview_layout.addWidget(self.preview_caption)
        layout.addWidget(preview_box)

        recordings_box = QGroupBox("My recordings")
        recordings_layout = QVBoxLayout(recordings_box)
        self.recordings_table = QTableWidget(0, len(RECORDING_COLUMNS))
        self.recordings_table.setHorizontalHeaderLabels(list(RECORDING_COLUMNS))
        self.recordings_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.recordings_table.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents
        )
        self.recordings_table.horizontalHeader().setStretchLastSection(True)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self._refresh_recordings)
        self.console_button = QPushButton("Open in the browser (notes, who opened them)")
        self.console_button.clicked.connect(self.console_requested)
        recordings_layout.addWidget(self.recordings_table)
        buttons = QHBoxLayout()
        buttons.addWidget(self.refresh_button)
        buttons.addWidget(self.console_button)
        recordings_layout.addLayout(buttons)
        layout.addWidget(recordings_box)

        self._preview_timer = QTimer(self)
        self._preview_timer.setInterval(PREVIEW_INTERVAL_MS)
        self._preview_timer.timeout.connect(self.refresh_preview)
        self.resize(720, 760)

    def update_status(self, status: AgentStatus) -> None:
        self.state_label.setText(headline(status))
        self.session_label.setText(one_line(session_line(status)))
        self.expiry_label.setText(expiry_line(status))
        self.expiry_label.setVisible(status.session is not None)
        self.backlog_label.setText(backlog_line(status))
        self.upload_label.setText(one_line(status.upload_note))
        self.problems_label.setText("\n".join(one_line(f"Problem: {p}") for p in status.problems))
        self.problems_label.setVisible(bool(status.problems))

    def show_recordings(self, recordings: Sequence[RecordingShown]) -> None:
        rows: list[tuple[str, ...]] = []
        for recording in recordings:
            if not recording.accesses:
                rows.append((recording.started_at, recording.state, "nobody yet", "", "", ""))
            for access in recording.accesses:
                rows.append(
                    (
                        recording.started_at,
                        recording.state,
                        access.who,
                        access.action,
                        access.purpose,
                        access.at,
                    )
                )
        self.recordings_table.setRowCount(len(rows))
        for row, values in enumerate(rows):
            for column, value in enumerate(values):
                self.recordings_table.setItem(row, column, QTableWidgetItem(one_line(value)))

    def refresh_preview(self) -> None:
        frame = self._controls.preview_frame()
        if frame is None:
            self.preview_label.setPixmap(QPixmap())
            self.preview_label.setText(NO_PREVIEW)
            return
        pixmap = QPixmap.fromImage(frame_to_image(frame))
        self.preview_label.setPixmap(
            pixmap.scaled(
                self.preview_label.contentsRect().size(),
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
        )

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        self.refresh_preview()
        # Only while visible: each preview grabs the screen, which costs the agent CPU.
        self._preview_timer.start()

    def hideEvent(self, event: QHideEvent) -> None:  # noqa: N802 - Qt's name
        self._preview_timer.stop()
        super().hideEvent(event)

    def _refresh_recordings(self) -> None:
        self._controls.refresh_recordings()
