"""The agent window: state in words, the live preview of what would be kept, and the
agent's recordings with who accessed them."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication, QTableWidget
from pytestqt.qtbot import QtBot

from agent.core.view import AccessShown, RecordingShown
from agent.session.vocabulary import State
from agent.ui.agent_window import NO_PREVIEW, PREVIEW_CAPTION, AgentWindow, frame_to_image
from agent.ui.bridge import QtAgentView
from agent.ui.shell import AgentShell
from protocol.recording_vocabulary import PauseSource
from tests.helpers.qt import FakeControls, make_status
from tests.helpers.recording_ids import rec


@pytest.fixture
def window(qapp: QApplication, qtbot: QtBot, controls: FakeControls) -> Iterator[AgentWindow]:
    agent_window = AgentWindow(controls)
    qtbot.addWidget(agent_window)
    yield agent_window
    agent_window.hide()


def _frame(bgra: tuple[int, int, int, int], height: int = 90, width: int = 160) -> np.ndarray:
    frame = np.zeros((height, width, 4), dtype=np.uint8)
    frame[:, :] = bgra
    return frame


def _cell(table: QTableWidget, row: int, column: int) -> str:
    item = table.item(row, column)
    assert item is not None
    return item.text()


def test_status_in_words(window: AgentWindow) -> None:
    window.update_status(
        make_status(
            State.PAUSED,
            paused_by=frozenset({PauseSource.HOTKEY}),
            backlog_segments=2,
            backlog_bytes=2048,
            upload_note="vault unreachable, retrying in 30 s",
            problems=("capture failed: the CRM window vanished",),
        )
    )
    assert window.state_label.text() == (
        "Recording paused: nothing is being stored (paused by the hotkey)"
    )
    assert window.session_label.text() == (
        "Session: Handling refund requests, started by Dana Trainer, 3 calls left"
    )
    assert window.expiry_label.text().startswith("Session ends ")
    assert window.backlog_label.text() == "Waiting to upload: 2 segments (2.0 KB)"
    assert window.upload_label.text() == "vault unreachable, retrying in 30 s"
    assert window.problems_label.text() == "Problem: capture failed: the CRM window vanished"

    window.update_status(make_status(State.NO_SESSION))
    assert window.state_label.text() == "Not recording: no training session"
    assert window.session_label.text() == "No training session"
    assert window.backlog_label.text() == "Nothing waiting to upload"
    assert window.problems_label.isHidden()


def test_preview_shows_the_frame_from_the_core(
    window: AgentWindow, qtbot: QtBot, controls: FakeControls
) -> None:
    controls.frame = _frame((0x10, 0x80, 0xF0, 0xFF))
    window.show()
    qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: not window.preview_label.pixmap().isNull())
    pixmap = window.preview_label.pixmap()
    centre = pixmap.toImage().pixelColor(pixmap.width() // 2, pixmap.height() // 2)
    assert centre == QColor(0xF0, 0x80, 0x10)
    # Scaled to the label, keeping the frame's 16:9 shape.
    assert pixmap.width() >= 400
    assert abs(pixmap.width() / pixmap.height() - 16 / 9) < 0.05
    assert window.preview_caption.text() == PREVIEW_CAPTION

    # Refreshed about every 500 ms while shown: a new frame appears without any click.
    controls.frame = _frame((0x00, 0x00, 0x00, 0xFF))

    def black() -> bool:
        image = window.preview_label.pixmap().toImage()
        return image.pixelColor(image.width() // 2, image.height() // 2) == QColor(0, 0, 0)

    qtbot.waitUntil(black, timeout=2000)


def test_preview_stops_when_hidden(
    window: AgentWindow, qtbot: QtBot, controls: FakeControls
) -> None:
    window.show()
    qtbot.waitExposed(window)
    assert window.preview_label.text() == NO_PREVIEW
    qtbot.waitUntil(lambda: controls.names().count("preview_frame") >= 2, timeout=2000)
    window.hide()
    asked = controls.names().count("preview_frame")
    qtbot.wait(1200)
    assert controls.names().count("preview_frame") == asked


def test_frame_conversion_copies_and_checks() -> None:
    frame = _frame((1, 2, 3, 0))
    image = frame_to_image(frame)
    frame[:] = 255
    # Alpha 0 from a grabber is still opaque: RGB32 ignores it, as the recording does.
    assert image.pixelColor(0, 0) == QColor(3, 2, 1)
    with pytest.raises(ValueError, match="BGRA"):
        frame_to_image(np.zeros((4, 4, 3), dtype=np.uint8))


def test_recordings_table_and_refresh(
    window: AgentWindow, qtbot: QtBot, controls: FakeControls
) -> None:
    window.show_recordings(
        [
            RecordingShown(
                rec(1),
                "2026-03-01T10:00:00Z",
                "uploaded",
                (
                    AccessShown("2026-03-02T09:00:00Z", "Dana Trainer", "playback", "training"),
                    AccessShown("2026-03-03T09:00:00Z", "Sam Auditor", "verify", "quality"),
                ),
            ),
            RecordingShown(rec(2), "2026-03-04T11:00:00Z", "waiting to upload", ()),
        ]
    )
    table = window.recordings_table
    rows = [
        tuple(_cell(table, row, column) for column in range(table.columnCount()))
        for row in range(table.rowCount())
    ]
    assert rows == [
        (
            "2026-03-01T10:00:00Z",
            "uploaded",
            "Dana Trainer",
            "playback",
            "training",
            "2026-03-02T09:00:00Z",
        ),
        (
            "2026-03-01T10:00:00Z",
            "uploaded",
            "Sam Auditor",
            "verify",
            "quality",
            "2026-03-03T09:00:00Z",
        ),
        ("2026-03-04T11:00:00Z", "waiting to upload", "nobody yet", "", "", ""),
    ]
    window.refresh_button.click()
    assert controls.calls[-1] == ("refresh_recordings", None)


@pytest.mark.usefixtures("tray_host")
def test_shell_routes_status_and_recordings(
    qapp: QApplication, qtbot: QtBot, controls: FakeControls
) -> None:
    view = QtAgentView()
    shell = AgentShell(view, controls)
    try:
        view.show_status(make_status(State.RECORDING))
        qtbot.waitUntil(lambda: shell.window.state_label.text() == "Recording this call")
        assert "Recording this call" in shell.tray.toolTip()

        view.show_recordings([RecordingShown(rec(1), "2026-03-01", "uploaded", ())])
        qtbot.waitUntil(lambda: shell.window.recordings_table.rowCount() == 1)

        shell.open_window()
        qtbot.waitExposed(shell.window)
        assert ("refresh_recordings", None) in controls.calls
    finally:
        shell.close()
        shell.deleteLater()
