"""Retention and what the vault holds (R17, R19): the rules, legal holds (placed and lifted
here), what is due for deletion and what was shredded, the retention run, and an agent's
subject access export."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from vault import retention, subject_access
from vault.api.auth import Context
from vault.console.forms import read_form
from vault.console.rendering import page
from vault.console.signed_in import ConsoleActor
from vault.retention import MAX_REASON
from vault.retention_overview import DUE_WITHIN, overview
from vault.roles import Permission

router = APIRouter()
VIEWERS = (Permission.RETENTION_RUN, Permission.LEGAL_HOLD, Permission.AUDIT_READ)


@router.get("/console/retention", include_in_schema=False)
def retention_page(
    request: Request,
    actor: ConsoleActor,
    ctx: Context,
    ran: Annotated[int | None, Query(ge=0)] = None,
    held: Annotated[int | None, Query(ge=0)] = None,
) -> HTMLResponse:
    actor.require_any(VIEWERS)
    return page(
        request,
        "retention.html",
        actor,
        title="Retention",
        found=overview(ctx, ctx.clock()),
        due_days=DUE_WITHIN.days,
        max_reason=MAX_REASON,
        ran=ran,
        held_left=held,
    )


@router.post("/console/retention/run", include_in_schema=False)
def run_retention(actor: ConsoleActor, ctx: Context) -> Response:
    actor.require(Permission.RETENTION_RUN)
    report = retention.run(ctx, actor=actor.username)
    return RedirectResponse(
        f"/console/retention?ran={len(report.shredded)}&held={len(report.held)}", status_code=303
    )


@router.post("/console/recordings/{recording_id}/hold", include_in_schema=False)
async def place_hold(
    request: Request, recording_id: uuid.UUID, actor: ConsoleActor, ctx: Context
) -> Response:
    form = await read_form(request)
    reason = form.text("reason", max_length=MAX_REASON) or ""
    retention.set_hold(ctx, actor, recording_id, reason)
    return RedirectResponse(f"/console/recordings/{recording_id}", status_code=303)


@router.post("/console/recordings/{recording_id}/hold/lift", include_in_schema=False)
def lift_hold(recording_id: uuid.UUID, actor: ConsoleActor, ctx: Context) -> Response:
    retention.clear_hold(ctx, actor, recording_id)
    return RedirectResponse("/console/retention", status_code=303)


@router.get("/console/subject-access", include_in_schema=False)
def subject_access_export(
    actor: ConsoleActor,
    ctx: Context,
    agent: Annotated[str, Query(min_length=1, max_length=64)],
) -> Response:
    """Everything the vault holds about an agent, as one zip (logged)."""
    archive = subject_access.export_agent(ctx, actor, agent)
    return Response(
        archive,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="subject-access-{agent}.zip"'},
    )
