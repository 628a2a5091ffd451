"""Playback for people with the right: a ticket, logged with its purpose, then the media it
names, one segment at a time (or whole, for API clients) and its waveform (docs/console.md)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request, Response

from protocol.api.staff import Access, AudioPeaks, PlaybackTicket, SegmentPeaks
from protocol.segments.keyframes import KEYFRAME_EVERY_SEGMENTS
from vault import access, peaks
from vault.api.auth import Context, CurrentActor
from vault.api.media_responses import RECORDING_MEDIA, Binary, media_response
from vault.context import VaultContext
from vault.errors import VaultError
from vault.playback import TICKET_LENGTH, PlaybackTickets, begin
from vault.playback_segments import MAX_PEAK_SEGMENTS, PlaybackLayout, SegmentPlayer, layout_of

router = APIRouter(prefix="/api/v1")
Ticket = Annotated[str, Path(max_length=TICKET_LENGTH)]
MAX_SEGMENT_INDEX = 1_000_000
"""Far beyond any recording (a day of 1 s segments): a larger number is a bad request."""


def tickets_of(request: Request) -> PlaybackTickets:
    tickets: PlaybackTickets = request.app.state.playback_tickets
    return tickets


def segment_player_of(request: Request) -> SegmentPlayer:
    player: SegmentPlayer = request.app.state.segment_player
    return player


def describe_playback(ticket: str, layout: PlaybackLayout) -> PlaybackTicket:
    whole = layout.completeness
    return PlaybackTicket(
        url=f"/api/v1/playback/{ticket}",
        content_type="video/webm" if "webm" in layout.stream_type else "video/mp4",
        segment_url=f"/api/v1/playback/{ticket}/segments/",
        peaks_url=f"/api/v1/playback/{ticket}/peaks",
        stream_type=layout.stream_type,
        segment_seconds=layout.segment_seconds,
        segments=list(layout.segments),
        keyframe_every_segments=KEYFRAME_EVERY_SEGMENTS,
        duration_s=layout.duration_s,
        metadata=layout.metadata,
        complete=whole.complete,
        incomplete=None if whole.complete else whole.describe(),
    )


@router.post("/recordings/{recording_id}/playback", status_code=201, tags=["recordings"])
def start_playback(
    recording_id: uuid.UUID, body: Access, actor: CurrentActor, ctx: Context, request: Request
) -> PlaybackTicket:
    """Log a playback with its purpose, then give the ticket's URLs, the recording's segment
    layout and what the agent recorded about its gaps (pauses, blacked-out frames)."""
    ticket, layout = begin(ctx, actor, tickets_of(request), recording_id, body.purpose)
    return describe_playback(ticket, layout)


def _layout(ticket: str, user_id: int, ctx: VaultContext, request: Request) -> PlaybackLayout:
    return tickets_of(request).layout(
        ticket, user_id, now=ctx.clock(), find=lambda recording_id: layout_of(ctx, recording_id)
    )


@router.get(
    "/playback/{ticket}", tags=["recordings"], response_class=Binary, responses=RECORDING_MEDIA
)
def playback_media(
    ticket: Ticket,
    actor: CurrentActor,
    ctx: Context,
    request: Request,
    range_header: Annotated[str | None, Header(alias="range")] = None,
) -> Response:
    """The whole recording, joined on the first request (see segments for long ones)."""
    media = tickets_of(request).media(
        ticket,
        actor.user_id,
        now=ctx.clock(),
        reopen=lambda recording_id: access.decrypt_media(ctx, recording_id),
    )
    return media_response(media, range_header, attachment=False)


@router.get(
    "/playback/{ticket}/segments/{index}",
    tags=["recordings"],
    response_class=Binary,
    responses={
        200: {
            "description": "one media segment for a MediaSource buffer: fragmented MP4"
            " (H.264 + Opus) or WebM (VP9 + Opus), its times from the recording's start",
            "content": {"video/mp4": {}, "video/webm": {}},
        }
    },
)
def playback_segment(
    ticket: Ticket,
    index: Annotated[int, Path(ge=0, le=MAX_SEGMENT_INDEX)],
    actor: CurrentActor,
    ctx: Context,
    request: Request,
) -> Response:
    layout = _layout(ticket, actor.user_id, ctx, request)
    data = segment_player_of(request).fragment(ctx, layout.recording_id, index)
    return Response(
        data,
        media_type=layout.stream_type.split(";")[0],
        headers={"Cache-Control": "private, no-store"},
    )


@router.get("/playback/{ticket}/peaks", tags=["recordings"])
def playback_peaks(
    ticket: Ticket,
    actor: CurrentActor,
    ctx: Context,
    request: Request,
    *,
    first: Annotated[int, Query(ge=0, le=MAX_SEGMENT_INDEX)] = 0,
    count: Annotated[int, Query(ge=1, le=MAX_PEAK_SEGMENTS)] = MAX_PEAK_SEGMENTS,
) -> AudioPeaks:
    """The waveform of the playback's two lanes (agent left, caller right) for the stored
    segments in [first, first + count), computed from the media and never stored."""
    layout = _layout(ticket, actor.user_id, ctx, request)
    try:
        found = segment_player_of(request).peaks(ctx, layout, first, count)
    except peaks.PeaksError as exc:
        raise VaultError(f"recording {layout.recording_id}: {exc}", code="damaged") from None
    return AudioPeaks(
        per_second=peaks.PEAKS_PER_SECOND,
        segments=[
            SegmentPeaks(index=i, start_s=i * layout.segment_seconds, agent=a, caller=c)
            for i, a, c in found
        ],
    )
