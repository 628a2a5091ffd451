"""Playback tickets: a browser's <video> element fetches media in many Range requests, so a
playback is logged once, when the ticket is issued, and the ticket then names the recording
for that person for a few minutes.

A ticket is signed, not remembered: it carries the recording, the person and its expiry, with
an HMAC under a key every vault process derives from the vault's identity. So any process
behind a load balancer honours a ticket another issued. The joined media is kept in a small
per-process cache; a process that has not seen the ticket opens the recording itself (the
access was logged when the ticket was issued).
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

from vault.access import Media
from vault.errors import NotFound

TICKET_LIFETIME = timedelta(minutes=15)
MAX_CACHED = 16
"""Bounded so a burst of playbacks cannot hold unbounded plaintext in memory."""
TICKET_SECRET_PURPOSE = b"callreel playback tickets v1"
_CLAIM = struct.Struct(">16sQQ")  # recording id, user id, expiry (unix seconds)
_MAC_LEN = 16
TICKET_LENGTH = len(base64.urlsafe_b64encode(bytes(_CLAIM.size + _MAC_LEN)).rstrip(b"="))


@dataclass(frozen=True, slots=True)
class _Claim:
    recording_id: uuid.UUID
    user_id: int
    expires_at: datetime


class PlaybackTickets:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, tuple[datetime, Media]] = OrderedDict()

    def issue(self, user_id: int, media: Media, *, now: datetime) -> str:
        expires_at = now + TICKET_LIFETIME
        payload = _CLAIM.pack(media.recording_id.bytes, user_id, int(expires_at.timestamp()))
        ticket = base64.urlsafe_b64encode(payload + self._mac(payload)).rstrip(b"=").decode()
        self._remember(ticket, expires_at, media, now)
        return ticket

    def media(
        self,
        ticket: str,
        user_id: int,
        *,
        now: datetime,
        reopen: Callable[[uuid.UUID], Media],
    ) -> Media:
        """The ticket's media for `user_id`; `reopen` joins it again in a process that has
        not cached it."""
        claim = self._verified(ticket)
        if claim is None or claim.user_id != user_id or claim.expires_at <= now:
            raise NotFound("playback ticket unknown or expired: start the playback again")
        with self._lock:
            cached = self._cache.get(ticket)
        if cached is not None:
            return cached[1]
        media = reopen(claim.recording_id)
        self._remember(ticket, claim.expires_at, media, now)
        return media

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

    def _remember(self, ticket: str, expires_at: datetime, media: Media, now: datetime) -> None:
        with self._lock:
            for key in [k for k, (until, _) in self._cache.items() if until <= now]:
                del self._cache[key]
            self._cache[ticket] = (expires_at, media)
            while len(self._cache) > MAX_CACHED:
                self._cache.popitem(last=False)
