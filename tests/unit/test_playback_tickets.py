"""Signed playback tickets: honoured by any process with the same secret, for the person they
were issued to, until they expire; anything altered is unknown. What a process works out for a
ticket it works out once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from vault.access import Media
from vault.errors import NotFound
from vault.playback import TICKET_LIFETIME, PlaybackTickets

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
MEDIA = Media(uuid.uuid4(), b"joined media", "mp4", "video/mp4")
SECRET = b"s" * 32


def _never(_recording: uuid.UUID) -> Media:
    raise AssertionError("the process has the media cached")


def test_any_process_with_the_same_secret_opens_the_recording_once() -> None:
    ticket = PlaybackTickets(SECRET).issue(7, MEDIA.recording_id, now=NOW)
    other = PlaybackTickets(SECRET)
    opened: list[uuid.UUID] = []

    def reopen(recording: uuid.UUID) -> Media:
        opened.append(recording)
        return MEDIA

    assert other.recording(ticket, 7, now=NOW) == MEDIA.recording_id
    assert other.media(ticket, 7, now=NOW, reopen=reopen) == MEDIA
    assert other.media(ticket, 7, now=NOW, reopen=_never) == MEDIA
    assert opened == [MEDIA.recording_id]


def _refused(tickets: PlaybackTickets, ticket: str, user: int, now: datetime) -> None:
    with pytest.raises(NotFound, match="start the playback again"):
        tickets.media(ticket, user, now=now, reopen=lambda _r: MEDIA)


def test_a_ticket_is_refused_to_someone_else_after_expiry_or_under_another_secret() -> None:
    tickets = PlaybackTickets(SECRET)
    ticket = tickets.issue(7, MEDIA.recording_id, now=NOW)
    tickets.media(ticket, 7, now=NOW, reopen=lambda _r: MEDIA)
    _refused(tickets, ticket, 8, NOW)
    _refused(tickets, ticket, 7, NOW + TICKET_LIFETIME)
    _refused(PlaybackTickets(b"t" * 32), ticket, 7, NOW)
    assert tickets.media(ticket, 7, now=NOW + TICKET_LIFETIME - timedelta(seconds=1),
                         reopen=_never) is MEDIA  # fmt: skip


@pytest.mark.parametrize("position", [0, 10, 30, 50, -1])
def test_an_altered_ticket_is_unknown(position: int) -> None:
    tickets = PlaybackTickets(SECRET)
    ticket = PlaybackTickets(SECRET).issue(7, MEDIA.recording_id, now=NOW)
    flipped = "A" if ticket[position] != "A" else "B"
    altered = ticket[:position] + flipped + (ticket[position + 1 :] if position != -1 else "")
    _refused(tickets, altered, 7, NOW)


@pytest.mark.parametrize("ticket", ["", "x" * 64, "!" * 64, "a" * 63, "a" * 1000])
def test_garbage_is_unknown(ticket: str) -> None:
    _refused(PlaybackTickets(SECRET), ticket, 7, NOW)
