"""Recordings: the filtered list, one recording's page (state a purpose to play it, request a
release), and the player."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from protocol.api.staff import MAX_RECORDING_SECONDS
from protocol.api.vocabulary import Purpose, StoredRecordingState
from vault import access, completeness, notes, releases
from vault.api.auth import Context
from vault.api.playback_routes import describe_playback, tickets_of
from vault.console.forms import read_form
from vault.console.rendering import page
from vault.console.signed_in import ConsoleActor
from vault.errors import VaultError
from vault.gap_markers import gap_markers
from vault.playback import TICKET_LENGTH, begin
from vault.playback_segments import layout_of
from vault.recording_search import PAGE_SIZE, Position, RecordingFilter, search
from vault.roles import Permission

MAX_PAGE = 200

router = APIRouter()

_Name = Annotated[str | None, Query(max_length=64)]


def _purpose(text: str | None) -> Purpose:
    try:
        return Purpose(text or "")
    except ValueError:
        raise VaultError(
            "state why you open this recording: choose a purpose from the list (R15)"
        ) from None


@router.get("/console/recordings", include_in_schema=False)
def recording_list(
    request: Request,
    actor: ConsoleActor,
    ctx: Context,
    *,
    agent: _Name = None,
    team: _Name = None,
    purpose: Annotated[Purpose | None, Query()] = None,
    state: Annotated[StoredRecordingState | None, Query()] = None,
    since: Annotated[date | None, Query()] = None,
    until: Annotated[date | None, Query()] = None,
    after: Annotated[str | None, Query(max_length=60)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = PAGE_SIZE,
) -> HTMLResponse:
    wanted = RecordingFilter(
        agent=agent or None, team=team or None, purpose=purpose, state=state, since=since,
        until=until,
    )  # fmt: skip
    found = search(
        ctx, actor, wanted, after=None if not after else Position.parse(after), limit=limit
    )
    filters = {
        key: value
        for key, value in {
            "agent": agent, "team": team, "purpose": purpose and purpose.value,
            "state": state and state.value, "since": since and since.isoformat(),
            "until": until and until.isoformat(),
        }.items()
        if value
    }  # fmt: skip
    if limit != PAGE_SIZE:
        filters["limit"] = str(limit)
    next_link = None
    if found.next is not None:
        next_link = "/console/recordings?" + urlencode({**filters, "after": found.next.token()})
    return page(
        request,
        "recordings.html",
        actor,
        title="Recordings",
        recordings=found.recordings,
        filters=filters,
        purposes=list(Purpose),
        states=list(StoredRecordingState),
        next_link=next_link,
        first_link="/console/recordings?" + urlencode(filters) if after else None,
    )


@router.get("/console/recordings/{recording_id}", include_in_schema=False)
def recording_page(
    request: Request,
    recording_id: uuid.UUID,
    actor: ConsoleActor,
    ctx: Context,
    t: Annotated[float, Query(ge=0, le=MAX_RECORDING_SECONDS)] = 0.0,
) -> HTMLResponse:
    actor.require(Permission.RECORDING_LIST)
    with ctx.engine.connect() as connection:
        row = access.recording_row(connection, recording_id)
        stored = completeness.stored_indices(connection, [recording_id])[recording_id]
    return page(
        request,
        "recording.html",
        actor,
        title="Recording",
        recording=access.describe(row, stored),
        purposes=list(Purpose),
        start_at=t,
    )


@router.post("/console/recordings/{recording_id}/play", include_in_schema=False)
async def play(
    request: Request, recording_id: uuid.UUID, actor: ConsoleActor, ctx: Context
) -> Response:
    form = await read_form(request)
    stated = _purpose(form.text("purpose", max_length=40, required=False))
    start_at = form.number("t", low=0, high=MAX_RECORDING_SECONDS, default=0.0)
    ticket, _ = begin(ctx, actor, tickets_of(request), recording_id, stated)
    return RedirectResponse(f"/console/play/{ticket}?t={start_at:g}", status_code=303)


@router.get("/console/play/{ticket}", include_in_schema=False)
def player(
    request: Request,
    ticket: Annotated[str, Path(max_length=TICKET_LENGTH)],
    actor: ConsoleActor,
    ctx: Context,
    t: Annotated[float, Query(ge=0, le=MAX_RECORDING_SECONDS)] = 0.0,
) -> HTMLResponse:
    layout = tickets_of(request).layout(
        ticket,
        actor.user_id,
        now=ctx.clock(),
        find=lambda recording_id: layout_of(ctx, recording_id),
    )
    with ctx.engine.connect() as connection:
        row = access.recording_row(connection, layout.recording_id)
        stored = completeness.stored_indices(connection, [layout.recording_id])
        recording = access.describe(row, stored[layout.recording_id])
    markers = gap_markers(
        layout.metadata, recording.missing_segments, default_segment_s=layout.segment_seconds
    )
    found_notes = notes.notes_on(ctx, actor, layout.recording_id)
    data = {
        "playback": describe_playback(ticket, layout).model_dump(mode="json"),
        "notes": f"/api/v1/recordings/{layout.recording_id}/notes",
        "recording": str(layout.recording_id),
        "start": t,
        "markers": [
            {"kind": m.kind.value, "start": m.start_s, "end": m.end_s, "label": m.label}
            for m in markers
        ],
        "can_note": True,
    }
    return page(
        request,
        "player.html",
        actor,
        title="Review a recording",
        recording=recording,
        metadata=layout.metadata,
        markers=markers,
        notes=found_notes,
        data=data,
    )


@router.post("/console/recordings/{recording_id}/releases", include_in_schema=False)
async def request_release(
    request: Request, recording_id: uuid.UUID, actor: ConsoleActor, ctx: Context
) -> Response:
    form = await read_form(request)
    releases.request(
        ctx,
        actor,
        recording_id,
        purpose=_purpose(form.text("purpose", max_length=40, required=False)),
        recipient=form.required("recipient", max_length=200),
        reason=form.required("reason", max_length=releases.MAX_TEXT),
    )
    return RedirectResponse("/console/releases?requested=1", status_code=303)
