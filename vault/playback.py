"""Playback tickets: a browser's <video> element fetches media in many Range requests, so a
playback is logged and decrypted once, when the ticket is issued, and the joined media is
kept in memory for that person for a few minutes."""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

from vault.access import Media
from vault.errors import NotFound

TICKET_LIFETIME = timedelta(minutes=15)
MAX_TICKETS = 16
"""Bounded so a burst of playbacks cannot hold unbounded plaintext in memory."""


@dataclass(frozen=True, slots=True)
class _Ticket:
    user_id: int
    media: Media
    expires_at: datetime


class PlaybackTickets:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tickets: OrderedDict[str, _Ticket] = OrderedDict()

    def issue(self, user_id: int, media: Media, *, now: datetime) -> str:
        ticket = secrets.token_urlsafe(24)
        with self._lock:
            self._drop_expired(now)
            self._tickets[ticket] = _Ticket(user_id, media, now + TICKET_LIFETIME)
            while len(self._tickets) > MAX_TICKETS:
                self._tickets.popitem(last=False)
        return ticket

    def media(self, ticket: str, user_id: int, *, now: datetime) -> Media:
        with self._lock:
            self._drop_expired(now)
            found = self._tickets.get(ticket)
        if found is None or found.user_id != user_id:
            raise NotFound("playback ticket unknown or expired: start the playback again")
        return found.media

    def _drop_expired(self, now: datetime) -> None:
        for key in [k for k, t in self._tickets.items() if t.expires_at <= now]:
            del self._tickets[key]
