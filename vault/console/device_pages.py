"""Devices and their health (R23): which agents' computers are silent or falling behind, which
version each runs, how much each still has to upload; revocation for those with the right.
Administrators also make and revoke fleet enrolment tokens here and see the logins those
tokens could not enrol (vault/fleet_enrolment.py)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from protocol.api.vocabulary import DeviceStatus
from protocol.version import VERSION
from vault import devices, fleet_enrolment
from vault.api.auth import Context
from vault.console.forms import read_form
from vault.console.rendering import page
from vault.console.signed_in import ConsoleActor
from vault.context import Actor, VaultContext
from vault.errors import VaultError
from vault.roles import Permission, allowed

router = APIRouter()
VIEWERS = (Permission.HEALTH_VIEW, Permission.DEVICE_MANAGE)


FLEET_FORM_FIELDS = ("team", "uses", "days", "label", "creates_agents")


@router.get("/console/devices", include_in_schema=False)
def device_page(request: Request, actor: ConsoleActor, ctx: Context) -> HTMLResponse:
    return _device_page(request, actor, ctx)


def _device_page(
    request: Request,
    actor: Actor,
    ctx: VaultContext,
    *,
    new_token: str | None = None,
    problem: VaultError | None = None,
    typed: dict[str, str] | None = None,
) -> HTMLResponse:
    actor.require_any(VIEWERS)
    found = devices.health(ctx.engine, now=ctx.clock())
    # The ones needing attention first.
    found.sort(key=lambda d: (d.status == DeviceStatus.OK, d.agent, d.hostname))
    counts = {status: sum(d.status == status for d in found) for status in DeviceStatus}
    managing = allowed(actor.roles, Permission.DEVICE_MANAGE)
    answer = page(
        request,
        "devices.html",
        actor,
        title="Devices",
        devices=found,
        counts=counts,
        vault_version=VERSION,
        silent_after=devices.SILENT_AFTER,
        behind_after=devices.BEHIND_AFTER_SEGMENTS,
        fleet_tokens=fleet_enrolment.list_fleet_tokens(ctx.engine) if managing else [],
        pending=fleet_enrolment.pending_enrolments(ctx.engine) if managing else [],
        now=ctx.clock(),
        new_token=new_token,
        problem=None if problem is None else str(problem),
        typed=typed or {},
    )
    if problem is not None:
        answer.status_code = problem.status
    return answer


@router.post("/console/fleet-tokens", include_in_schema=False)
async def new_fleet_token(request: Request, actor: ConsoleActor, ctx: Context) -> Response:
    actor.require(Permission.DEVICE_MANAGE)
    form = await read_form(request)
    try:
        token, _ = fleet_enrolment.create_fleet_token(
            ctx.engine,
            team=form.required("team", max_length=64),
            max_uses=int(form.number("uses", low=1, high=fleet_enrolment.MAX_USES)),
            valid_for=timedelta(days=form.number("days", low=1, high=366)),
            creates_agents=form.text("creates_agents", required=False) == "yes",
            label=form.text("label", max_length=120, required=False) or "",
            by=actor.username,
            now=ctx.clock(),
        )
    except VaultError as refused:
        if refused.status in (401, 403):
            raise
        typed = form.as_typed(*FLEET_FORM_FIELDS)
        return _device_page(request, actor, ctx, problem=refused, typed=typed)
    # Shown once, on this page's answer, never again: only its hash is kept.
    answer = _device_page(request, actor, ctx, new_token=token)
    answer.headers["Cache-Control"] = "no-store"
    return answer


@router.post("/console/fleet-tokens/{token_id}/revoke", include_in_schema=False)
def revoke_fleet_token(token_id: uuid.UUID, actor: ConsoleActor, ctx: Context) -> Response:
    actor.require(Permission.DEVICE_MANAGE)
    fleet_enrolment.revoke_fleet_token(ctx.engine, token_id, by=actor.username, now=ctx.clock())
    return RedirectResponse("/console/devices", status_code=303)


@router.post("/console/devices/{device_id}/revoke", include_in_schema=False)
def revoke(device_id: uuid.UUID, actor: ConsoleActor, ctx: Context) -> Response:
    actor.require(Permission.DEVICE_MANAGE)
    devices.revoke(ctx.engine, device_id, now=ctx.clock(), by=actor.username)
    return RedirectResponse("/console/devices", status_code=303)
