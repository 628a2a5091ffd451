"""The pause hotkey's syntax, its canonical text, the Windows and X11 key tables, and the
error without a display (a real XGrabKey on Xvfb: tests/integration/test_hotkey_x11.py)."""

from __future__ import annotations

import pytest

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
from agent.hotkey.x11 import keysym_name

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
