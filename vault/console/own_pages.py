"""An agent's own recordings (R14, R20): the notes trainers left on them, and who opened each,
when and for what purpose."""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from protocol.api.agent import AccessRecord
from protocol.api.staff import NoteView
from vault import access, notes
from vault.api.auth import Context
from vault.console.rendering import page
from vault.console.signed_in import ConsoleActor
from vault.recording_search import Position, RecordingFilter, search

router = APIRouter()


@router.get("/console/mine", include_in_schema=False)
def my_recordings(
    request: Request,
    actor: ConsoleActor,
    ctx: Context,
    after: Annotated[str | None, Query(max_length=60)] = None,
) -> HTMLResponse:
    found = search(
        ctx,
        actor,
        RecordingFilter(),
        after=None if not after else Position.parse(after),
        own_only=True,
    )
    ids = [r.id for r in found.recordings]
    by_recording: dict[str, list[NoteView]] = defaultdict(list)
    with ctx.engine.connect() as connection:
        for note in notes.read_notes(connection, ids):
            by_recording[str(note.recording_id)].append(note)
    accesses: dict[str, list[AccessRecord]] = defaultdict(list)
    shown = {str(i) for i in ids}
    for record in access.access_history(ctx, actor.user_id):
        if record.recording_id in shown:
            accesses[record.recording_id].append(record)
    return page(
        request,
        "mine.html",
        actor,
        title="My recordings",
        recordings=found.recordings,
        notes=by_recording,
        accesses=accesses,
        next_link=None if found.next is None else f"/console/mine?after={found.next.token()}",
    )
