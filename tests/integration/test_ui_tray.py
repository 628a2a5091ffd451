"""The tray indicator on a real X tray (trayer): icon, words, menu and what it asks the core."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import QObject, QUrl, Slot
from PySide6.QtGui import QAction, QColor, QDesktopServices, QImage, Qt
from PySide6.QtWidgets import QApplication, QSystemTrayIcon
from pytestqt.qtbot import QtBot

from agent.session.vocabulary import State
from agent.settings.layers import SettingShown
from agent.ui.bridge import QtAgentView
from agent.ui.icons import ICON_SIZE, STATE_COLOURS, STATE_WORDS
from agent.ui.shell import AgentShell
from agent.ui.tray import MANAGED_SUFFIX, TrayIndicator
from protocol.recording_vocabulary import PauseSource
from tests.helpers.qt import FakeControls, make_status

# A point of each icon that shows the state's colour (the icons differ in shape too).
_COLOUR_POINT = {
    State.NO_SESSION: (32, 9),
    State.ARMED: (14, 32),
    State.NOTICE: (16, 50),
    State.RECORDING: (32, 32),
    State.PAUSED: (14, 32),
    State.FINISHING: (20, 20),
    State.DISCARDED: (20, 20),
}


@pytest.fixture
def tray(tray_host: int, controls: FakeControls) -> Iterator[TrayIndicator]:
    indicator = TrayIndicator(controls)
    indicator.show()
    yield indicator
    indicator.hide()
    indicator.deleteLater()


def _icon_image(tray: TrayIndicator) -> QImage:
    return tray.icon().pixmap(ICON_SIZE, ICON_SIZE).toImage()


def _close(actual: QColor, expected: QColor) -> bool:
    pairs = (
        (actual.red(), expected.red()),
        (actual.green(), expected.green()),
        (actual.blue(), expected.blue()),
    )
    return all(abs(a - b) <= 8 for a, b in pairs) and actual.alpha() > 200


def _visible_texts(tray: TrayIndicator) -> list[str]:
    return [a.text() for a in tray.menu.actions() if a.isVisible() and not a.isSeparator()]


def test_tray_is_docked_in_the_real_tray(qtbot: QtBot, tray: TrayIndicator) -> None:
    assert QApplication.platformName() == "xcb"
    assert QSystemTrayIcon.isSystemTrayAvailable()
    assert tray.isVisible()
    # trayer embeds the icon (XEmbed): only then does it get a place on screen.
    qtbot.waitUntil(lambda: not tray.geometry().isEmpty(), timeout=5000)


@pytest.mark.parametrize("state", list(State))
def test_every_state_has_its_icon_and_words(tray: TrayIndicator, state: State) -> None:
    tray.update_status(make_status(state))

    words = STATE_WORDS[state]
    assert words in tray.toolTip()
    assert tray.status_action.text() == words
    assert not tray.status_action.isEnabled()
    x, y = _COLOUR_POINT[state]
    colour = _icon_image(tray).pixelColor(x, y)
    assert _close(colour, STATE_COLOURS[state]), (state, colour.name())
    if state is State.NO_SESSION:
        assert "No training session" in tray.toolTip()
        assert _icon_image(tray).pixelColor(32, 32).alpha() == 0, "hollow"
    else:
        assert "Handling refund requests" in tray.toolTip()
        assert "Dana Trainer" in tray.toolTip()
        assert "3 calls left" in tray.toolTip()
        assert "all recordings uploaded" in tray.toolTip()


def test_icons_differ_in_shape_not_only_colour(tray: TrayIndicator) -> None:
    images = {}
    for state in State:
        tray.update_status(make_status(state))
        image = _icon_image(tray).convertToFormat(QImage.Format.Format_Grayscale8)
        images[state] = bytes(image.constBits())
    assert len(set(images.values())) == len(State)


def test_paused_status_names_who_paused(tray: TrayIndicator) -> None:
    tray.update_status(make_status(State.PAUSED, paused_by=frozenset({PauseSource.PAYMENT_WINDOW})))
    assert "paused by a payment window" in tray.toolTip()
    assert "Recording paused" in tray.status_action.text()
    # The centre of the paused icon carries white pause bars.
    bar = _icon_image(tray).pixelColor(25, 32)
    assert _close(bar, QColor("#ffffff"))


def test_problems_and_backlog_show_a_badge_and_words(tray: TrayIndicator) -> None:
    tray.update_status(make_status(State.ARMED))
    plain = _icon_image(tray).pixelColor(50, 50)

    tray.update_status(make_status(State.ARMED, backlog_segments=3, backlog_bytes=1_500_000))
    assert "Waiting to upload: 3 segments (1.5 MB)" in tray.toolTip()
    backlog = _icon_image(tray).pixelColor(44, 46)
    assert _close(backlog, QColor("#303030")), backlog.name()

    tray.update_status(
        make_status(
            State.RECORDING,
            backlog_segments=3,
            problems=("the vault refused segment 4: wrong device key",),
            upload_note="vault unreachable, retrying in 30 s",
        )
    )
    assert "Problem: the vault refused segment 4: wrong device key" in tray.toolTip()
    assert "vault unreachable, retrying in 30 s" in tray.toolTip()
    assert "Problem: the vault refused segment 4: wrong device key" in _visible_texts(tray)
    assert "vault unreachable, retrying in 30 s" in _visible_texts(tray)
    problem = _icon_image(tray).pixelColor(44, 46)
    assert _close(problem, QColor("#8b0000")), problem.name()
    assert plain != problem

    tray.update_status(make_status(State.ARMED))
    assert not [t for t in _visible_texts(tray) if t.startswith("Problem:")]


def test_words_from_the_vault_are_shown_literally(tray: TrayIndicator) -> None:
    problem = "the vault said <b>R&D</b> \u202eis down"
    tray.update_status(make_status(State.ARMED, problems=(problem,), upload_note="Q&A <i>x</i>"))
    shown = [a.iconText() for a in tray.menu.actions() if a.isVisible() and not a.isSeparator()]
    # iconText is the entry as the menu draws it: accelerators taken out.
    assert "Problem: the vault said <b>R&D</b> is down" in shown
    assert "Q&A <i>x</i>" in shown
    assert not Qt.mightBeRichText(tray.toolTip())
    assert "Problem: the vault said <b>R&D</b> is down" in tray.toolTip().splitlines()


def test_pause_and_resume_from_the_tray(tray: TrayIndicator, controls: FakeControls) -> None:
    tray.update_status(make_status(State.RECORDING))
    assert tray.pause_action.isVisible()
    assert tray.pause_action.isEnabled()
    assert not tray.resume_action.isVisible()
    tray.pause_action.trigger()
    assert controls.calls == [("pause", PauseSource.TRAY)]

    tray.update_status(make_status(State.PAUSED, paused_by=frozenset({PauseSource.TRAY})))
    assert tray.resume_action.isVisible()
    assert tray.resume_action.isEnabled()
    assert not tray.pause_action.isVisible()
    tray.resume_action.trigger()
    assert controls.calls[-1] == ("resume", PauseSource.TRAY)


def test_pause_needs_a_session(tray: TrayIndicator) -> None:
    tray.update_status(make_status(State.NO_SESSION))
    assert not tray.pause_action.isEnabled()
    assert not tray.personal_action.isEnabled()


def test_personal_call_from_the_tray(tray: TrayIndicator, controls: FakeControls) -> None:
    tray.update_status(make_status(State.NOTICE))
    assert tray.personal_action.isVisible()
    assert tray.personal_action.isEnabled()
    tray.personal_action.trigger()
    assert controls.calls == [("declare_personal_call", None)]


def test_personal_call_hidden_when_policy_forbids(tray: TrayIndicator) -> None:
    forbidden = (SettingShown("personal_calls_allowed", "false", "managed"),)
    tray.update_status(make_status(State.RECORDING, settings=forbidden))
    assert not tray.personal_action.isVisible()
    assert not tray.personal_action.isEnabled()


def test_settings_submenu_marks_managed_values(tray: TrayIndicator) -> None:
    settings = (
        SettingShown("vault_url", "https://vault.example", "managed"),
        SettingShown("pause_hotkey", "Ctrl+Alt+P", "user"),
        SettingShown("notice_lead_time_s", "5", "default"),
    )
    tray.update_status(make_status(State.ARMED, settings=settings))

    actions: dict[str, QAction] = {a.text(): a for a in tray.setting_actions()}
    managed = "vault_url: https://vault.example" + MANAGED_SUFFIX
    assert managed == "vault_url: https://vault.example (managed by your organisation)"
    assert set(actions) == {managed, "pause_hotkey: Ctrl+Alt+P", "notice_lead_time_s: 5"}
    assert not actions[managed].isEnabled()
    assert actions["pause_hotkey: Ctrl+Alt+P"].isEnabled()
    assert actions["notice_lead_time_s: 5"].isEnabled()


def test_menu_offers_no_quit(tray: TrayIndicator) -> None:
    tray.update_status(make_status(State.ARMED))
    texts = [a.text().lower() for a in tray.menu.actions()]
    assert not [t for t in texts if "quit" in t or "exit" in t]
    assert "Open Callreel" in _visible_texts(tray)


def test_open_action_asks_for_the_window(qtbot: QtBot, tray: TrayIndicator) -> None:
    with qtbot.waitSignal(tray.open_requested, timeout=1000):
        tray.open_action.trigger()


def test_the_console_action_asks_for_the_browser(qtbot: QtBot, tray: TrayIndicator) -> None:
    assert "My recordings in the browser" in _visible_texts(tray)
    with qtbot.waitSignal(tray.console_requested, timeout=1000):
        tray.console_action.trigger()


class _Browser(QObject):
    """Stands in for the desktop's browser through Qt's own URL handler hook."""

    def __init__(self) -> None:
        super().__init__()
        self.opened: list[str] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.opened.append(url.toString())


@pytest.mark.usefixtures("tray_host")
def test_the_tray_and_the_window_open_the_link_the_core_gives(
    qapp: QApplication, qtbot: QtBot, controls: FakeControls
) -> None:
    view = QtAgentView()
    shell = AgentShell(view, controls)
    handler = _Browser()
    # PySide6 takes the slot's name as text here, though its stub says bytes.
    QDesktopServices.setUrlHandler("https", handler, "open")  # type: ignore[arg-type]
    try:
        shell.tray.console_action.trigger()
        shell.window.console_button.click()
        assert controls.names().count("open_console") == 2
        link = "https://127.0.0.1:8443/console/sign-in/once/crl_abc"
        view.open_link(link)  # from the core's thread in the agent; queued to the GUI here
        qtbot.waitUntil(lambda: handler.opened == [link], timeout=2000)
    finally:
        QDesktopServices.unsetUrlHandler("https")
        shell.close()
        shell.deleteLater()


@pytest.mark.usefixtures("tray_host")
def test_shell_tells_the_agent(qapp: QApplication, qtbot: QtBot, controls: FakeControls) -> None:
    view = QtAgentView()
    shell = AgentShell(view, controls)
    try:
        # A balloon through the real tray; a Qt warning here would fail the test.
        view.tell("This recording was discarded: the caller declined.")
        qtbot.wait(200)
        assert shell.tray.isVisible()
    finally:
        shell.close()
        shell.deleteLater()
