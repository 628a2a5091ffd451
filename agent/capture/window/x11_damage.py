"""Whether the business window's pixels changed, from the X server's DAMAGE extension.

One damage object on the business window's client window (drawing in its subwindows counts
too), at the "non-empty" level: the server sends one event when the window's damage goes from
none to some, and `empty` clears it again. So a still window costs one small request per frame
and no event, and a busy one a single event per frame, however much it draws.

Used by agent/capture/window/x11.py, on the locator's own connection and thread.
"""

from __future__ import annotations

from typing import Any

from Xlib import error as xerror
from Xlib.display import Display
from Xlib.ext import damage
from Xlib.xobject.drawable import Window


class WindowDamage:
    """The damage of one window at a time; `seen` is True until the first `empty`."""

    def __init__(self, display: Display) -> None:
        self._display = display
        self.available = display.has_extension(damage.extname)
        self._event_type: int | None = None
        if self.available:
            # The protocol wants the version agreed before any other request of it.
            display.damage_query_version()
            self._event_type = display.extension_event.DamageNotify
        self._damage: int | None = None
        self._window_id = 0
        self.seen = True
        """Some of the window may have changed since the last `empty` (or the watch began)."""

    @property
    def watching(self) -> bool:
        return self._damage is not None

    def follow(self, window: Window) -> None:
        """Watch `window` (a no-op if it is the one watched); a new window counts as changed."""
        if not self.available or window.id == self._window_id:
            return
        self.forget()
        damage_id = self._display.display.allocate_resource_id()
        self._send(
            damage.DamageCreate,
            damage=damage_id,
            drawable=window.id,
            level=damage.DamageReportNonEmpty,
        )
        self._damage, self._window_id = damage_id, window.id
        self.seen = True

    def forget(self) -> None:
        """Stop watching (no business window, or another one)."""
        if self._damage is not None:
            self._send(damage.DamageDestroy, damage=self._damage)
            self._display.display.free_resource_id(self._damage)
        self._gone()

    def window_destroyed(self, window_id: int) -> None:
        """The server freed the damage with its window: nothing is left to destroy."""
        if window_id == self._window_id and self._damage is not None:
            self._display.display.free_resource_id(self._damage)
            self._gone()

    def _gone(self) -> None:
        self._damage, self._window_id = None, 0
        self.seen = True

    def take(self, event: Any) -> bool:
        """Whether `event` is a damage notification (so tells nothing of where windows are);
        one for the watched window is noted in `seen`."""
        if self._event_type is None or event.type != self._event_type:
            return False
        if event.damage == self._damage:
            self.seen = True
        return True

    def empty(self) -> None:
        """Clear the damage so far (a request; the caller's round trip orders it before the
        pixels are read, so what is drawn from then on sends a new notification)."""
        if self._damage is not None:
            self._send(damage.DamageSubtract, damage=self._damage, repair=0, parts=0)

    def _send(self, request: Any, **fields: int) -> None:
        """Send a request of the extension. Errors are swallowed: they only come for a window
        (and so its damage) already gone, whose DestroyNotify makes the locator look again."""
        request(
            display=self._display.display,
            onerror=xerror.CatchError(),
            opcode=self._display.display.get_extension_major(damage.extname),
            **fields,
        )
