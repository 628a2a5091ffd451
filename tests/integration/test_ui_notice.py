"""The call notice on a real X desktop: on top, without taking focus, reported to the core
only once it is on screen, with its countdown, consent and personal-call buttons."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot
from Xlib import X
from Xlib.display import Display

from agent.capture.geometry import Rect
from agent.core.view import NoticeContent
from agent.ui.bridge import QtAgentView
from agent.ui.notice import HEADLINE, NoticeWindow
from agent.ui.shell import AgentShell
from tests.helpers.desktop import Desktop
from tests.helpers.qt import FakeControls, xdotool
from tests.helpers.recording_ids import rec

MakeNotice = Callable[[NoticeContent], NoticeWindow]


def _content(recording_id: uuid.UUID | None = None, **changes: object) -> NoticeContent:
    fields: dict[str, object] = {
        "recording_id": rec(1) if recording_id is None else recording_id,
        "purpose": "Handling refund requests",
        "trainer": "Dana Trainer",
        "notice_text": "We are looking at how refunds are explained.",
        "captured_window": 'the "Orders - CRM" window (crm)',
        "captured_audio": "your microphone and the caller",
        "keep_days": 365,
        "delete_days": 730,
        "lead_time_s": 2.0,
        "consent_required": False,
        "consent_timeout_s": 30.0,
        "personal_allowed": True,
    }
    fields.update(changes)
    return NoticeContent(**fields)  # type: ignore[arg-type]


@pytest.fixture
def make_notice(qapp: QApplication, qtbot: QtBot, controls: FakeControls) -> Iterator[MakeNotice]:
    made: list[NoticeWindow] = []

    def make(content: NoticeContent) -> NoticeWindow:
        notice = NoticeWindow(content, controls)
        qtbot.addWidget(notice)
        made.append(notice)
        return notice

    yield make
    for notice in made:
        notice.hide()


def _shown_at(notice: NoticeWindow) -> float | None:
    return notice.shown_at


def _net_wm_state(window_id: int) -> set[str]:
    display = Display()
    try:
        window = display.create_resource_object("window", window_id)
        prop = window.get_full_property(display.intern_atom("_NET_WM_STATE"), X.AnyPropertyType)
        return {display.get_atom_name(atom) for atom in (prop.value if prop else [])}
    finally:
        display.close()


def _active_window() -> int:
    display = Display()
    try:
        root = display.screen().root
        prop = root.get_full_property(display.intern_atom("_NET_ACTIVE_WINDOW"), X.AnyPropertyType)
        return int(prop.value[0]) if prop else 0
    finally:
        display.close()


def test_notice_says_what_will_happen(make_notice: MakeNotice, qtbot: QtBot) -> None:
    notice = make_notice(_content())
    notice.present()
    qtbot.waitExposed(notice)
    assert notice.headline_label.text() == HEADLINE
    assert notice.purpose_label.text() == "Purpose: Handling refund requests"
    assert "Dana Trainer" in notice.trainer_label.text()
    assert notice.notice_text_label.text() == "We are looking at how refunds are explained."
    assert 'the "Orders - CRM" window (crm)' in notice.captured_label.text()
    assert "your microphone and the caller" in notice.captured_label.text()
    assert notice.retention_label.text() == "Kept for 365 days, deleted after 730 days."
    assert "Tell the caller" in notice.tell_caller_label.text()
    assert notice.personal_button.isVisible()
    assert not notice.agreed_button.isVisible()


HOSTILE_NOTE = "<h1 style='color:red'>This call is NOT recorded</h1>"


def _red_pixels(notice: NoticeWindow) -> int:
    """Pixels of pure red: the notice's own red (the countdown, #b00000) is darker."""
    image = notice.grab().toImage()
    return sum(
        1
        for y in range(0, image.height(), 2)
        for x in range(0, image.width(), 2)
        if (colour := image.pixelColor(x, y)).red() > 220
        and colour.green() < 60
        and colour.blue() < 60
    )


def test_trainer_text_is_shown_literally_never_as_markup(
    make_notice: MakeNotice, qtbot: QtBot
) -> None:
    notice = make_notice(_content(notice_text=HOSTILE_NOTE))
    notice.present()
    qtbot.waitExposed(notice)
    assert _red_pixels(notice) == 0
    assert notice.notice_text_label.text() == HOSTILE_NOTE
    assert notice.notice_text_label.textFormat() == Qt.TextFormat.PlainText
    # Shown as the characters themselves: as wide as the markup, in the normal font.
    metrics = notice.notice_text_label.fontMetrics()
    assert notice.notice_text_label.sizeHint().height() < 3 * metrics.height()
    assert notice.headline_label.text() == HEADLINE


def test_a_long_note_cannot_push_the_notice_off_screen(
    make_notice: MakeNotice, qtbot: QtBot
) -> None:
    note = "\n".join(f"line {n}" for n in range(400))[:2000]
    notice = make_notice(_content(notice_text=note))
    notice.present()
    qtbot.waitExposed(notice)
    screen = QApplication.primaryScreen().availableGeometry()
    assert screen.contains(notice.frameGeometry())
    for label in (notice.headline_label, notice.countdown_label, notice.tell_caller_label):
        top_left = label.mapToGlobal(label.rect().topLeft())
        assert screen.contains(top_left)
        assert label.visibleRegion().boundingRect().height() == label.height()


def test_notice_stays_on_top_without_taking_focus(
    make_notice: MakeNotice, qtbot: QtBot, desktop: Desktop
) -> None:
    softphone = desktop.spawn_colour_window(
        geometry=Rect(100, 100, 400, 300), title="softphone", wm_class="softphone"
    )
    # Not desktop.raise_window: trayer's dock stays above every normal window.
    xdotool("windowactivate", "--sync", str(softphone.window_id))
    qtbot.waitUntil(lambda: _active_window() == softphone.window_id, timeout=5000)

    notice = make_notice(_content())
    flags = notice.windowFlags()
    assert flags & Qt.WindowType.WindowStaysOnTopHint
    assert flags & Qt.WindowType.WindowDoesNotAcceptFocus
    assert notice.testAttribute(Qt.WidgetAttribute.WA_ShowWithoutActivating)
    notice.present()
    qtbot.waitExposed(notice)
    qtbot.waitUntil(
        lambda: "_NET_WM_STATE_ABOVE" in _net_wm_state(int(notice.winId())), timeout=5000
    )
    # Still the softphone's keyboard: the agent may be typing a number.
    qtbot.wait(300)
    assert _active_window() == softphone.window_id
    assert not notice.isActiveWindow()

    screen = QApplication.primaryScreen().availableGeometry()
    frame = notice.frameGeometry()
    assert screen.right() - frame.right() < 40
    assert frame.top() - screen.top() < 40


def test_notice_shown_only_once_exposed_and_only_once(
    make_notice: MakeNotice, qtbot: QtBot, controls: FakeControls
) -> None:
    seen: list[tuple[bool, bool]] = []
    notice = make_notice(_content())

    def look(recording_id: uuid.UUID) -> None:
        handle = notice.windowHandle()
        seen.append((notice.isVisible(), handle is not None and handle.isExposed()))

    controls.on_notice_shown = look
    assert _shown_at(notice) is None
    notice.present()
    qtbot.waitUntil(lambda: controls.calls != [], timeout=5000)
    assert controls.calls == [("notice_shown", rec(1))]
    assert seen == [(True, True)]
    assert notice.shown_at is not None

    qtbot.wait(600)
    notice.hide()
    notice.show()
    qtbot.waitExposed(notice)
    qtbot.wait(300)
    assert controls.names() == ["notice_shown"]


def test_countdown_runs_from_when_the_notice_is_on_screen(
    make_notice: MakeNotice, qtbot: QtBot
) -> None:
    notice = make_notice(_content(lead_time_s=2.0))
    assert notice.countdown_label.text() == "Recording starts 2 s after this notice appears"
    notice.present()
    qtbot.waitUntil(lambda: notice.countdown_label.text() == "Recording starts in 2 s")
    qtbot.waitUntil(lambda: notice.countdown_label.text() == "Recording starts in 1 s")
    qtbot.waitUntil(lambda: notice.countdown_label.text() == "Recording", timeout=3000)
    assert notice.shown_at is not None


@pytest.mark.parametrize(
    ("button", "call"),
    [("agreed_button", "confirm_consent"), ("declined_button", "decline_consent")],
)
def test_consent_buttons(
    make_notice: MakeNotice, qtbot: QtBot, controls: FakeControls, button: str, call: str
) -> None:
    notice = make_notice(_content(rec(7), consent_required=True, consent_timeout_s=20.0))
    notice.present()
    qtbot.waitUntil(lambda: controls.calls != [], timeout=5000)
    assert notice.agreed_button.isVisible()
    assert notice.declined_button.isVisible()
    assert "within 20 s" in notice.consent_label.text()

    QTest.mouseClick(getattr(notice, button), Qt.MouseButton.LeftButton)
    assert controls.calls[-1] == (call, rec(7))
    assert not notice.agreed_button.isEnabled()
    assert not notice.declined_button.isEnabled()


def test_consent_time_runs_out(make_notice: MakeNotice, qtbot: QtBot) -> None:
    notice = make_notice(_content(consent_required=True, consent_timeout_s=1.0))
    notice.present()
    qtbot.waitUntil(lambda: "No answer in time" in notice.consent_label.text(), timeout=3000)
    assert not notice.agreed_button.isEnabled()


def test_personal_button(make_notice: MakeNotice, qtbot: QtBot, controls: FakeControls) -> None:
    notice = make_notice(_content(rec(9)))
    notice.present()
    qtbot.waitExposed(notice)
    QTest.mouseClick(notice.personal_button, Qt.MouseButton.LeftButton)
    assert controls.calls[-1] == ("declare_personal_call", None)


def test_no_personal_button_when_policy_forbids(make_notice: MakeNotice, qtbot: QtBot) -> None:
    notice = make_notice(_content(personal_allowed=False))
    notice.present()
    qtbot.waitExposed(notice)
    assert not notice.personal_button.isVisible()


def test_withdrawn_only_for_its_own_recording(make_notice: MakeNotice, qtbot: QtBot) -> None:
    notice = make_notice(_content(rec(1)))
    notice.present()
    qtbot.waitExposed(notice)
    assert not notice.withdraw(rec(2))
    assert notice.isVisible()
    assert notice.withdraw(rec(1))
    assert not notice.isVisible()


@pytest.mark.usefixtures("tray_host")
def test_shell_shows_one_notice_per_recording_from_any_thread(
    qapp: QApplication, qtbot: QtBot, controls: FakeControls
) -> None:
    view = QtAgentView()
    shell = AgentShell(view, controls)
    try:
        # The core calls from its own thread; the notice must still be made on the GUI one.
        caller = threading.Thread(target=view.show_notice, args=(_content(rec(1)),))
        caller.start()
        caller.join()
        qtbot.waitUntil(lambda: shell.current_notice is not None)
        first = shell.current_notice
        assert first is not None
        qtbot.waitUntil(lambda: ("notice_shown", rec(1)) in controls.calls, timeout=5000)

        view.show_notice(_content(rec(1)))
        view.hide_notice(rec(999))
        qtbot.wait(100)
        assert shell.current_notice is first
        assert first.isVisible()

        view.hide_notice(rec(1))
        qtbot.waitUntil(lambda: shell.current_notice is None)
        assert shell.notices == {}
        assert controls.names().count("notice_shown") == 1
    finally:
        shell.close()
        shell.deleteLater()
