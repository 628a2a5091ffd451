"""Playback tickets: a browser's <video> element fetches media in many Range requests, so a
playback is logged once, when the ticket is issued, and the ticket then names the recording
for that person for a few minutes.

A ticket is signed, not remembered: it carries the recording, the person and its expiry, with
an HMAC under a key every vault process derives from the vault's identity. So any process
behind a load balancer honours a ticket another issued. What a process works out for a ticket
(the segment layout; for API clients, the whole joined file) is kept in a small per-process
cache; a process that has not seen the ticket works it out itself (the access was logged when
the ticket was issued).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import struct
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Generic, TypeVar

from protocol.api.vocabulary import Purpose
from vault.access import Media, log_access
from vault.context import Actor, VaultContext
from vault.errors import NotFound
from vault.playback_segments import PlaybackLayout, layout_of
from vault.roles import Permission

T = TypeVar("T")

TICKET_LIFETIME = timedelta(minutes=15)
MAX_CACHED = 16
"""Whole recordings joined for API clients: bounded so a burst of playbacks cannot hold
unbounded plaintext in memory."""
MAX_LAYOUTS = 1024
TICKET_SECRET_PURPOSE = b"callreel playback tickets v1"
_CLAIM = struct.Struct(">16sQQ")  # recording id, user id, expiry (unix seconds)
_MAC_LEN = 16
TICKET_LENGTH = len(base64.urlsafe_b64encode(bytes(_CLAIM.size + _MAC_LEN)).rstrip(b"="))


@dataclass(frozen=True, slots=True)
class _Claim:
    recording_id: uuid.UUID
    user_id: int
    expires_at: datetime


class _PerTicket(Generic[T]):
    """What a process worked out for a ticket, kept until the ticket expires, at most `limit`."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._items: OrderedDict[str, tuple[datetime, T]] = OrderedDict()

    def get(self, ticket: str, claim: _Claim, now: datetime, make: Callable[[uuid.UUID], T]) -> T:
        with self._lock:
            found = self._items.get(ticket)
        if found is not None:
            return found[1]
        value = make(claim.recording_id)
        with self._lock:
            for key in [k for k, (until, _) in self._items.items() if until <= now]:
                del self._items[key]
            self._items[ticket] = (claim.expires_at, value)
            while len(self._items) > self._limit:
                self._items.popitem(last=False)
        return value


class PlaybackTickets:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret
        self._media: _PerTicket[Media] = _PerTicket(MAX_CACHED)
        self._layouts: _PerTicket[PlaybackLayout] = _PerTicket(MAX_LAYOUTS)

    def issue(self, user_id: int, recording_id: uuid.UUID, *, now: datetime) -> str:
        expires_at = now + TICKET_LIFETIME
        payload = _CLAIM.pack(recording_id.bytes, user_id, int(expires_at.timestamp()))
        return base64.urlsafe_b64encode(payload + self._mac(payload)).rstrip(b"=").decode()

    def recording(self, ticket: str, user_id: int, *, now: datetime) -> uuid.UUID:
        return self._claim(ticket, user_id, now).recording_id

    def media(
        self,
        ticket: str,
        user_id: int,
        *,
        now: datetime,
        reopen: Callable[[uuid.UUID], Media],
    ) -> Media:
        """The ticket's whole media for `user_id`; `reopen` joins it the first time a process
        is asked."""
        return self._media.get(ticket, self._claim(ticket, user_id, now), now, reopen)

    def layout(
        self,
        ticket: str,
        user_id: int,
        *,
        now: datetime,
        find: Callable[[uuid.UUID], PlaybackLayout],
    ) -> PlaybackLayout:
        """The ticket's segment layout; `find` works it out the first time a process is asked."""
        return self._layouts.get(ticket, self._claim(ticket, user_id, now), now, find)

    def _claim(self, ticket: str, user_id: int, now: datetime) -> _Claim:
        claim = self._verified(ticket)
        if claim is None or claim.user_id != user_id or claim.expires_at <= now:
            raise NotFound("playback ticket unknown or expired: start the playback again")
        return claim

    def _mac(self, payload: bytes) -> bytes:
        return hmac.digest(self._secret, payload, "sha256")[:_MAC_LEN]

    def _verified(self, ticket: str) -> _Claim | None:
        if len(ticket) != TICKET_LENGTH:
            return None
        try:
            raw = base64.urlsafe_b64decode(ticket + "=" * (-len(ticket) % 4))
        except (binascii.Error, ValueError):
            return None
        payload, mac = raw[: _CLAIM.size], raw[_CLAIM.size :]
        if len(raw) != _CLAIM.size + _MAC_LEN or not hmac.compare_digest(mac, self._mac(payload)):
            return None
        recording, user_id, expires = _CLAIM.unpack(payload)
        return _Claim(uuid.UUID(bytes=recording), user_id, datetime.fromtimestamp(expires, UTC))


def begin(
    ctx: VaultContext,
    actor: Actor,
    tickets: PlaybackTickets,
    recording_id: uuid.UUID,
    stated: Purpose,
) -> tuple[str, PlaybackLayout]:
    """Log the playback with its purpose, then issue its ticket and work out its layout."""
    log_access(
        ctx, actor, recording_id, stated, action="playback", permission=Permission.RECORDING_PLAY
    )
    ticket = tickets.issue(actor.user_id, recording_id, now=ctx.clock())
    layout = tickets.layout(
        ticket, actor.user_id, now=ctx.clock(), find=lambda found: layout_of(ctx, found)
    )
    return ticket, layout
