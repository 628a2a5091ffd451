"""The pause hotkey on Windows: RegisterHotKey on a thread that runs its own message loop.

WM_HOTKEY is posted to the queue of the thread that registered the hotkey, so registration,
the GetMessageW loop and UnregisterHotKey all happen on one thread; `stop` ends the loop by
posting WM_QUIT to it. The key tables are pure and tested on every platform.
"""

from __future__ import annotations

import ctypes
import logging
import queue
import sys
import threading
from collections.abc import Callable
from ctypes import wintypes

from agent.hotkey.base import FUNCTION_KEYS, GlobalHotkey, Hotkey, HotkeyUnavailableError, Modifier

_log = logging.getLogger(__name__)

MOD_ALT = 0x0001
MOD_CONTROL = 0x0002
MOD_SHIFT = 0x0004
MOD_WIN = 0x0008
MOD_NOREPEAT = 0x4000
"""Holding the keys down sends one WM_HOTKEY, so one press is one toggle."""
WM_HOTKEY = 0x0312
WM_QUIT = 0x0012
ERROR_HOTKEY_ALREADY_REGISTERED = 1409
_HOTKEY_ID = 1

_VIRTUAL_KEYS = {
    "Space": 0x20,
    "Tab": 0x09,
    "Enter": 0x0D,
    "Escape": 0x1B,
    "PageUp": 0x21,
    "PageDown": 0x22,
    "End": 0x23,
    "Home": 0x24,
    "Left": 0x25,
    "Up": 0x26,
    "Right": 0x27,
    "Down": 0x28,
    "PrintScreen": 0x2C,
    "Insert": 0x2D,
    "Delete": 0x2E,
    "Pause": 0x13,
    "ScrollLock": 0x91,
}
_MODIFIER_FLAGS = {
    Modifier.ALT: MOD_ALT,
    Modifier.CTRL: MOD_CONTROL,
    Modifier.SHIFT: MOD_SHIFT,
    Modifier.SUPER: MOD_WIN,
}


def virtual_key(key: str) -> int:
    """The Windows virtual-key code of a canonical hotkey key."""
    if len(key) == 1:
        # VK_A..VK_Z and VK_0..VK_9 are the ASCII codes of the upper-case character.
        return ord(key.upper())
    if key in FUNCTION_KEYS:
        return 0x70 + FUNCTION_KEYS.index(key)
    return _VIRTUAL_KEYS[key]


def modifier_flags(hotkey: Hotkey) -> int:
    flags = MOD_NOREPEAT
    for modifier in hotkey.modifiers:
        flags |= _MODIFIER_FLAGS[modifier]
    return flags


def registration_error(hotkey: Hotkey, code: int) -> HotkeyUnavailableError:
    if code == ERROR_HOTKEY_ALREADY_REGISTERED:
        return HotkeyUnavailableError(
            f"the pause hotkey {hotkey} is already taken by another program: choose another "
            "combination in the settings, or use the tray menu"
        )
    return HotkeyUnavailableError(
        f"the pause hotkey {hotkey} is not available: RegisterHotKey failed with Windows "
        f"error {code}"
    )


class WindowsHotkey(GlobalHotkey):
    def __init__(self, hotkey: Hotkey) -> None:
        super().__init__(hotkey)
        self._thread: threading.Thread | None = None
        self._thread_id = 0

    def start(self, callback: Callable[[], None]) -> None:
        if self._thread is not None:
            raise RuntimeError(f"hotkey {self.hotkey} is already started")
        started: queue.Queue[BaseException | int] = queue.Queue(maxsize=1)
        thread = threading.Thread(
            target=_listen,
            args=(self.hotkey, callback, started),
            name=f"hotkey {self.hotkey}",
            daemon=True,
        )
        thread.start()
        outcome = started.get(timeout=5.0)
        if isinstance(outcome, BaseException):
            thread.join(timeout=1.0)
            raise outcome
        self._thread_id = outcome
        self._thread = thread

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        _post_quit(self._thread_id)
        thread.join(timeout=1.0)


if sys.platform == "win32":

    def _post_quit(thread_id: int) -> None:
        ctypes.windll.user32.PostThreadMessageW(thread_id, WM_QUIT, 0, 0)

    def _listen(
        hotkey: Hotkey, callback: Callable[[], None], started: queue.Queue[BaseException | int]
    ) -> None:
        user32 = ctypes.WinDLL("user32", use_last_error=True)
        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
        user32.RegisterHotKey.argtypes = (wintypes.HWND, ctypes.c_int, wintypes.UINT, wintypes.UINT)
        user32.RegisterHotKey.restype = wintypes.BOOL
        user32.GetMessageW.argtypes = (
            ctypes.POINTER(wintypes.MSG),
            wintypes.HWND,
            wintypes.UINT,
            wintypes.UINT,
        )
        user32.GetMessageW.restype = wintypes.BOOL
        user32.PeekMessageW.argtypes = (
            ctypes.POINTER(wintypes.MSG),
            wintypes.HWND,
            wintypes.UINT,
            wintypes.UINT,
            wintypes.UINT,
        )
        message = wintypes.MSG()
        # PostThreadMessageW needs the thread to have a message queue; peeking creates it.
        user32.PeekMessageW(ctypes.byref(message), None, 0, 0, 0)
        if not user32.RegisterHotKey(
            None, _HOTKEY_ID, modifier_flags(hotkey), virtual_key(hotkey.key)
        ):
            started.put(registration_error(hotkey, ctypes.get_last_error()))
            return
        started.put(int(kernel32.GetCurrentThreadId()))
        try:
            while user32.GetMessageW(ctypes.byref(message), None, 0, 0) > 0:
                if message.message == WM_HOTKEY and message.wParam == _HOTKEY_ID:
                    try:
                        callback()
                    except Exception:  # noqa: BLE001 - one bad press must not end listening
                        _log.exception("pause hotkey callback failed")
        finally:
            user32.UnregisterHotKey(None, _HOTKEY_ID)

else:

    def _post_quit(thread_id: int) -> None:
        del thread_id

    def _listen(
        hotkey: Hotkey, callback: Callable[[], None], started: queue.Queue[BaseException | int]
    ) -> None:
        del callback
        started.put(
            HotkeyUnavailableError(
                f"the pause hotkey {hotkey} uses RegisterHotKey, which exists only on Windows"
            )
        )
