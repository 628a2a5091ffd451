"""The pause hotkey on a real X server (Xvfb): XGrabKey calls back, with Caps Lock on too,
refuses a combination another client holds, stops quickly, and toggles pause through the
shell."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from agent.hotkey.base import HotkeyUnavailableError
from agent.hotkey.factory import create_hotkey
from agent.hotkey.x11 import X11Hotkey
from agent.session.vocabulary import State
from agent.ui.bridge import QtAgentView
from agent.ui.shell import AgentShell
from protocol.recording_vocabulary import PauseSource
from testbed.x_display import XServer
from tests.helpers.qt import FakeControls, make_status, xdotool


@pytest.fixture
def grabbed(x_display: XServer) -> Iterator[list[X11Hotkey]]:
    """Hotkeys a test started; all stopped afterwards."""
    started: list[X11Hotkey] = []
    yield started
    for hotkey in started:
        hotkey.stop()


def _start(grabbed: list[X11Hotkey], text: str, callback: object) -> X11Hotkey:
    hotkey = create_hotkey(text)
    assert isinstance(hotkey, X11Hotkey)
    hotkey.start(callback)  # type: ignore[arg-type]
    grabbed.append(hotkey)
    return hotkey


def test_real_grab_on_x_calls_back(grabbed: list[X11Hotkey]) -> None:
    presses: list[float] = []
    pressed = threading.Event()

    def on_press() -> None:
        presses.append(time.monotonic())
        pressed.set()

    _start(grabbed, "Ctrl+Alt+P", on_press)
    xdotool("key", "ctrl+alt+p")
    assert pressed.wait(5.0)
    pressed.clear()
    xdotool("key", "ctrl+alt+p")
    assert pressed.wait(5.0)
    assert len(presses) == 2

    # Other keys and other modifiers are not ours.
    xdotool("key", "ctrl+p", "alt+p", "ctrl+alt+o")
    time.sleep(0.3)
    assert len(presses) == 2


def test_grab_works_with_caps_lock_on(grabbed: list[X11Hotkey]) -> None:
    pressed = threading.Event()
    _start(grabbed, "Ctrl+Alt+P", pressed.set)
    xdotool("key", "Caps_Lock")
    try:
        xdotool("key", "ctrl+alt+p")
        assert pressed.wait(5.0)
    finally:
        xdotool("key", "Caps_Lock")


def test_a_combination_held_by_another_client_is_a_clear_error(
    grabbed: list[X11Hotkey],
) -> None:
    _start(grabbed, "Ctrl+Alt+K", lambda: None)
    # A second X connection is another client, as another program would be.
    with pytest.raises(HotkeyUnavailableError, match="already taken by another program"):
        _start(grabbed, "Ctrl+Alt+K", lambda: None)


def test_stop_is_quick_and_releases_the_grab(grabbed: list[X11Hotkey]) -> None:
    first = _start(grabbed, "Ctrl+Alt+J", lambda: None)
    began = time.monotonic()
    first.stop()
    assert time.monotonic() - began < 1.0
    first.stop()
    pressed = threading.Event()
    # The grab is free again: another client can have it.
    _start(grabbed, "Ctrl+Alt+J", pressed.set)
    xdotool("key", "ctrl+alt+j")
    assert pressed.wait(5.0)


@pytest.mark.usefixtures("tray_host")
def test_hotkey_toggles_pause_through_the_shell(
    qapp: QApplication, qtbot: QtBot, controls: FakeControls, grabbed: list[X11Hotkey]
) -> None:
    view = QtAgentView()
    shell = AgentShell(view, controls)
    hotkey = create_hotkey("Ctrl+Alt+U")
    assert isinstance(hotkey, X11Hotkey)
    grabbed.append(hotkey)
    try:
        shell.start_hotkey(hotkey)
        view.show_status(make_status(State.RECORDING))
        qtbot.waitUntil(lambda: shell.last_status is not None)

        xdotool("key", "ctrl+alt+u")
        qtbot.waitUntil(lambda: controls.calls == [("pause", PauseSource.HOTKEY)], timeout=5000)

        view.show_status(make_status(State.PAUSED, paused_by=frozenset({PauseSource.HOTKEY})))
        qtbot.waitUntil(lambda: shell.last_status is not None and bool(shell.last_status.paused_by))
        xdotool("key", "ctrl+alt+u")
        qtbot.waitUntil(lambda: controls.calls[-1] == ("resume", PauseSource.HOTKEY), timeout=5000)

        # Paused by the tray only: the hotkey adds its own pause, it does not undo the tray's.
        view.show_status(make_status(State.PAUSED, paused_by=frozenset({PauseSource.TRAY})))
        qtbot.waitUntil(
            lambda: (
                shell.last_status is not None and PauseSource.TRAY in shell.last_status.paused_by
            )
        )
        xdotool("key", "ctrl+alt+u")
        qtbot.waitUntil(lambda: len(controls.calls) == 3, timeout=5000)
        assert controls.calls[-1] == ("pause", PauseSource.HOTKEY)
    finally:
        shell.close()
        shell.deleteLater()
