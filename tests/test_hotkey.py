"""The pause hotkey: parsing, the Windows key tables, and a real XGrabKey on Xvfb."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from agent.hotkey.base import Hotkey, HotkeyError, HotkeyUnavailableError, Modifier, parse_hotkey
from agent.hotkey.factory import create_hotkey
from agent.hotkey.windows import (
    MOD_ALT,
    MOD_CONTROL,
    MOD_NOREPEAT,
    MOD_SHIFT,
    MOD_WIN,
    modifier_flags,
    registration_error,
    virtual_key,
)
from agent.hotkey.x11 import X11Hotkey, keysym_name
from agent.session.vocabulary import State
from agent.ui.bridge import QtAgentView
from agent.ui.shell import AgentShell
from protocol.recording_metadata import PauseSource
from tests.desktop import XServer
from tests.qt_desktop import FakeControls, make_status, xdotool

CTRL_ALT = frozenset({Modifier.CTRL, Modifier.ALT})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ctrl+Alt+P", Hotkey(CTRL_ALT, "P")),
        ("ctrl + alt + p", Hotkey(CTRL_ALT, "P")),
        ("Alt+Control+p", Hotkey(CTRL_ALT, "P")),
        ("Super+Shift+F9", Hotkey(frozenset({Modifier.SUPER, Modifier.SHIFT}), "F9")),
        ("Win+pgdn", Hotkey(frozenset({Modifier.SUPER}), "PageDown")),
        ("Ctrl+Alt+Space", Hotkey(CTRL_ALT, "Space")),
        ("Pause", Hotkey(frozenset(), "Pause")),
        ("F12", Hotkey(frozenset(), "F12")),
        ("Ctrl+7", Hotkey(frozenset({Modifier.CTRL}), "7")),
    ],
)
def test_parse_hotkey(text: str, expected: Hotkey) -> None:
    assert parse_hotkey(text) == expected


def test_hotkey_text_is_canonical() -> None:
    assert str(parse_hotkey("alt+ctrl+p")) == "Ctrl+Alt+P"
    assert str(parse_hotkey("shift+super+pageup")) == "Shift+Super+PageUp"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("Ctrl++P", "empty part"),
        ("Ctrl+Alt+", "empty part"),
        ("Ctrl+Alt", "no key after its modifiers"),
        ("Hyper+P", "unknown modifier 'Hyper'"),
        ("Ctrl+Alt+Banana", "unknown key 'Banana'"),
        ("Ctrl+Q+P", "more than one key"),
        ("Ctrl+Ctrl+P", "Ctrl appears twice"),
        ("P", "away from typing"),
        ("Shift+P", "away from typing"),
        ("Ctrl+Alt+é", "unknown key"),
    ],
)
def test_parse_hotkey_errors_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(HotkeyError, match=message):
        parse_hotkey(text)


def test_windows_key_tables() -> None:
    assert virtual_key("P") == 0x50
    assert virtual_key("0") == 0x30
    assert virtual_key("F1") == 0x70
    assert virtual_key("F24") == 0x87
    assert virtual_key("Pause") == 0x13
    assert virtual_key("PageDown") == 0x22
    assert modifier_flags(parse_hotkey("Ctrl+Alt+P")) == MOD_CONTROL | MOD_ALT | MOD_NOREPEAT
    assert modifier_flags(parse_hotkey("Shift+Super+F1")) == MOD_SHIFT | MOD_WIN | MOD_NOREPEAT
    taken = registration_error(parse_hotkey("Ctrl+Alt+P"), 1409)
    assert "already taken by another program" in str(taken)
    assert "error 5" in str(registration_error(parse_hotkey("Ctrl+Alt+P"), 5))


def test_x11_keysym_names() -> None:
    assert keysym_name("P") == "p"
    assert keysym_name("PageUp") == "Prior"
    assert keysym_name("F5") == "F5"
    assert keysym_name("Enter") == "Return"


def test_no_display_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    with pytest.raises(HotkeyUnavailableError, match="Wayland"):
        create_hotkey("Ctrl+Alt+P")
    monkeypatch.delenv("WAYLAND_DISPLAY")
    with pytest.raises(HotkeyUnavailableError, match="DISPLAY is not set"):
        create_hotkey("Ctrl+Alt+P")


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
