"""`create_hotkey`: the pause hotkey's backend for this desktop, imported only when asked for."""

from __future__ import annotations

import os
import sys

from agent.hotkey.base import GlobalHotkey, HotkeyUnavailableError, parse_hotkey


def create_hotkey(text: str) -> GlobalHotkey:
    hotkey = parse_hotkey(text)
    if sys.platform == "win32":
        from agent.hotkey.windows import WindowsHotkey  # noqa: PLC0415 - loads user32 only on Windows

        return WindowsHotkey(hotkey)
    if sys.platform == "darwin":
        # A Carbon RegisterEventHotKey or Quartz event-tap backend is not written yet; an event
        # tap would also need the Accessibility permission in the privacy profile.
        raise HotkeyUnavailableError(
            f"the pause hotkey {hotkey} is not available on macOS yet: use the tray menu to "
            "pause (a global hotkey there needs the Accessibility permission)"
        )
    if not os.environ.get("DISPLAY"):
        if os.environ.get("WAYLAND_DISPLAY"):
            raise HotkeyUnavailableError(
                f"the pause hotkey {hotkey} is not available: Wayland does not let programs "
                "grab keys for the whole desktop; use the tray menu to pause"
            )
        raise HotkeyUnavailableError(
            f"the pause hotkey {hotkey} is not available: no X display (DISPLAY is not set)"
        )
    from agent.hotkey.x11 import X11Hotkey  # noqa: PLC0415 - X libraries load only on X11

    return X11Hotkey(hotkey)
