"""A system-wide key combination that toggles pause (R6), behind one small interface.

`parse_hotkey` is pure and owns the syntax (the settings check asks it);
`agent.hotkey.factory.create_hotkey` picks the platform backend lazily, so importing this module
never opens an X connection or loads user32.dll. A backend calls its callback from its own
thread: the caller must hand the press over to its GUI thread itself.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum


class Modifier(Enum):
    CTRL = "Ctrl"
    ALT = "Alt"
    SHIFT = "Shift"
    SUPER = "Super"


_MODIFIER_ORDER = (Modifier.CTRL, Modifier.ALT, Modifier.SHIFT, Modifier.SUPER)
_MODIFIER_NAMES = {
    "ctrl": Modifier.CTRL,
    "control": Modifier.CTRL,
    "alt": Modifier.ALT,
    "shift": Modifier.SHIFT,
    "super": Modifier.SUPER,
    "win": Modifier.SUPER,
    "meta": Modifier.SUPER,
    "cmd": Modifier.SUPER,
}
NAMED_KEYS = (
    "Space",
    "Tab",
    "Enter",
    "Escape",
    "Insert",
    "Delete",
    "Home",
    "End",
    "PageUp",
    "PageDown",
    "Up",
    "Down",
    "Left",
    "Right",
    "Pause",
    "ScrollLock",
    "PrintScreen",
)
_KEY_ALIASES = {
    "return": "Enter",
    "esc": "Escape",
    "ins": "Insert",
    "del": "Delete",
    "pgup": "PageUp",
    "pgdown": "PageDown",
    "pgdn": "PageDown",
    "break": "Pause",
    "print": "PrintScreen",
}
FUNCTION_KEYS = tuple(f"F{number}" for number in range(1, 25))
# Keys that type nothing, so grabbing them alone does not take anything away from typing.
_SAFE_ALONE = frozenset({*FUNCTION_KEYS, "Pause", "ScrollLock"})


class HotkeyError(ValueError):
    """The text does not describe a usable key combination."""


class HotkeyUnavailableError(RuntimeError):
    """The combination is fine but this desktop cannot deliver it; the message says why."""


@dataclass(frozen=True, slots=True)
class Hotkey:
    modifiers: frozenset[Modifier]
    key: str
    """Canonical: 'A'-'Z', '0'-'9', 'F1'-'F24' or one of NAMED_KEYS."""

    def __str__(self) -> str:
        names = [modifier.value for modifier in _MODIFIER_ORDER if modifier in self.modifiers]
        return "+".join([*names, self.key])


def _canonical_key(name: str, text: str) -> str:
    if len(name) == 1 and name.isascii() and name.isalnum():
        return name.upper()
    lowered = name.lower()
    if lowered in _KEY_ALIASES:
        return _KEY_ALIASES[lowered]
    for known in (*FUNCTION_KEYS, *NAMED_KEYS):
        if lowered == known.lower():
            return known
    raise HotkeyError(
        f"unknown key {name!r} in hotkey {text!r}: use a letter, a digit, F1-F24 or one of "
        + ", ".join(NAMED_KEYS)
    )


def parse_hotkey(text: str) -> Hotkey:
    """'Ctrl+Alt+P' -> Hotkey({CTRL, ALT}, 'P'); names are case-insensitive."""
    if not isinstance(text, str) or not text.strip():
        raise HotkeyError("the hotkey is empty: write it like Ctrl+Alt+P")
    parts = [part.strip() for part in text.split("+")]
    if any(not part for part in parts):
        raise HotkeyError(f"hotkey {text!r} has an empty part: write it like Ctrl+Alt+P")
    *modifier_names, key_name = parts
    modifiers: set[Modifier] = set()
    for name in modifier_names:
        modifier = _MODIFIER_NAMES.get(name.lower())
        if modifier is None:
            if _looks_like_key(name):
                raise HotkeyError(
                    f"hotkey {text!r} names more than one key ({name!r} and {key_name!r}); "
                    "use modifiers (Ctrl, Alt, Shift, Super) and exactly one key, last"
                )
            raise HotkeyError(f"unknown modifier {name!r} in hotkey {text!r}")
        if modifier in modifiers:
            raise HotkeyError(f"modifier {modifier.value} appears twice in hotkey {text!r}")
        modifiers.add(modifier)
    if key_name.lower() in _MODIFIER_NAMES:
        raise HotkeyError(f"hotkey {text!r} has no key after its modifiers")
    key = _canonical_key(key_name, text)
    if not (modifiers - {Modifier.SHIFT}) and key not in _SAFE_ALONE:
        raise HotkeyError(
            f"hotkey {text!r} would take {key!r} away from typing everywhere: add Ctrl, Alt or "
            "Super"
        )
    return Hotkey(frozenset(modifiers), key)


def _looks_like_key(name: str) -> bool:
    try:
        _canonical_key(name, name)
    except HotkeyError:
        return False
    return True


class GlobalHotkey(ABC):
    """One grabbed combination. `start` raises HotkeyUnavailableError if it cannot be had."""

    def __init__(self, hotkey: Hotkey) -> None:
        self.hotkey = hotkey

    @abstractmethod
    def start(self, callback: Callable[[], None]) -> None:
        """Grab the combination; `callback` runs on the backend's thread for each press."""

    @abstractmethod
    def stop(self) -> None:
        """Release the combination; returns within about a second. Safe to call twice."""
