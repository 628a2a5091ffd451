"""The pause hotkey on X11: a passive XGrabKey on the root window, on its own connection.

The connection belongs to the listening thread once the grab is in place (python-xlib
connections are not thread-safe), and the grab is made in `start` so a combination that
another program holds fails there, with a reason, instead of silently never firing.
"""

from __future__ import annotations

import contextlib
import logging
import select
import threading
from collections.abc import Callable

from Xlib import XK, X
from Xlib import error as xerror
from Xlib.display import Display

from agent.hotkey.base import GlobalHotkey, Hotkey, HotkeyUnavailableError, Modifier

_log = logging.getLogger(__name__)

_KEYSYM_NAMES = {
    "Space": "space",
    "Tab": "Tab",
    "Enter": "Return",
    "Escape": "Escape",
    "Insert": "Insert",
    "Delete": "Delete",
    "Home": "Home",
    "End": "End",
    "PageUp": "Prior",
    "PageDown": "Next",
    "Up": "Up",
    "Down": "Down",
    "Left": "Left",
    "Right": "Right",
    "Pause": "Pause",
    "ScrollLock": "Scroll_Lock",
    "PrintScreen": "Print",
}
# ShiftMask, LockMask, ControlMask, Mod1Mask ... Mod5Mask, in get_modifier_mapping() order.
_MODIFIER_MASKS = (
    X.ShiftMask,
    X.LockMask,
    X.ControlMask,
    X.Mod1Mask,
    X.Mod2Mask,
    X.Mod3Mask,
    X.Mod4Mask,
    X.Mod5Mask,
)
_POLL_S = 0.1


def keysym_name(key: str) -> str:
    """The X keysym name of a canonical hotkey key ('P' -> 'p', 'PageUp' -> 'Prior')."""
    if len(key) == 1:
        return key.lower()
    return _KEYSYM_NAMES.get(key, key)


def _mask_holding(display: Display, keysym_names: tuple[str, ...], fallback: int) -> int:
    """The modifier mask that the keyboard maps these keys to (Alt is usually Mod1, NumLock
    usually Mod2, but xmodmap users move them)."""
    keycodes = {display.keysym_to_keycode(XK.string_to_keysym(name)) for name in keysym_names} - {0}
    for index, mapped in enumerate(display.get_modifier_mapping()):
        if keycodes & {int(code) for code in mapped if code}:
            return _MODIFIER_MASKS[index]
    return fallback


class X11Hotkey(GlobalHotkey):
    def __init__(self, hotkey: Hotkey, display_name: str | None = None) -> None:
        super().__init__(hotkey)
        self._display_name = display_name
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def start(self, callback: Callable[[], None]) -> None:
        if self._thread is not None:
            raise RuntimeError(f"hotkey {self.hotkey} is already started")
        try:
            display = Display(self._display_name)
        except (xerror.DisplayError, OSError) as error:
            raise HotkeyUnavailableError(
                f"the pause hotkey {self.hotkey} is not available: cannot open the X display "
                f"({error})"
            ) from error
        try:
            keycode = self._grab(display)
        except BaseException:
            display.close()
            raise
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._listen,
            args=(display, keycode, callback),
            name=f"hotkey {self.hotkey}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stopping.set()
        thread.join(timeout=1.0)

    def _grab(self, display: Display) -> int:
        keysym = XK.string_to_keysym(keysym_name(self.hotkey.key))
        keycode = display.keysym_to_keycode(keysym) if keysym else 0
        if not keycode:
            raise HotkeyUnavailableError(
                f"the pause hotkey {self.hotkey} is not available: no key on this keyboard "
                f"produces {self.hotkey.key}"
            )
        masks = {
            Modifier.CTRL: X.ControlMask,
            Modifier.SHIFT: X.ShiftMask,
            Modifier.ALT: _mask_holding(display, ("Alt_L", "Alt_R"), X.Mod1Mask),
            Modifier.SUPER: _mask_holding(display, ("Super_L", "Super_R"), X.Mod4Mask),
        }
        modifiers = 0
        for modifier in self.hotkey.modifiers:
            modifiers |= masks[modifier]
        num_lock = _mask_holding(display, ("Num_Lock",), 0)
        # The server matches modifiers exactly, so NumLock or CapsLock being on would
        # otherwise make the combination dead.
        variants = sorted({0, X.LockMask, num_lock, X.LockMask | num_lock})
        root = display.screen().root
        refused = xerror.CatchError(xerror.BadAccess)
        for extra in variants:
            root.grab_key(
                keycode, modifiers | extra, False, X.GrabModeAsync, X.GrabModeAsync, onerror=refused
            )
        display.sync()
        if refused.get_error() is not None:
            raise HotkeyUnavailableError(
                f"the pause hotkey {self.hotkey} is already taken by another program on this "
                "desktop: choose another combination in the settings, or use the tray menu"
            )
        return int(keycode)

    def _listen(self, display: Display, keycode: int, callback: Callable[[], None]) -> None:
        last_release = -1
        try:
            while not self._stopping.is_set():
                readable, _, _ = select.select([display], [], [], _POLL_S)
                if not readable and not display.pending_events():
                    continue
                for _ in range(display.pending_events()):
                    event = display.next_event()
                    if event.type == X.KeyRelease and event.detail == keycode:
                        last_release = event.time
                    elif event.type == X.KeyPress and event.detail == keycode:
                        # Auto-repeat sends release+press with one timestamp: one toggle per
                        # physical press, however long the key is held.
                        if event.time == last_release:
                            continue
                        try:
                            callback()
                        except Exception:  # noqa: BLE001 - one bad press must not end listening
                            _log.exception("pause hotkey callback failed")
        except (xerror.ConnectionClosedError, OSError):
            _log.warning("pause hotkey %s stopped: the X connection closed", self.hotkey)
        finally:
            # Closing the connection releases its grabs.
            with contextlib.suppress(xerror.ConnectionClosedError, OSError):
                display.close()
