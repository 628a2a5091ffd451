"""Devices and their health (R23): which agents' computers are silent or falling behind, which
version each runs, how much each still has to upload; revocation for those with the right."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from protocol.api.vocabulary import DeviceStatus
from protocol.version import VERSION
from vault import devices
from vault.api.auth import Context
from vault.console.rendering import page
from vault.console.signed_in import ConsoleActor
from vault.roles import Permission

router = APIRouter()
VIEWERS = (Permission.HEALTH_VIEW, Permission.DEVICE_MANAGE)


@router.get("/console/devices", include_in_schema=False)
def device_page(request: Request, actor: ConsoleActor, ctx: Context) -> HTMLResponse:
    actor.require_any(VIEWERS)
    found = devices.health(ctx.engine, now=ctx.clock())
    # The ones needing attention first.
    found.sort(key=lambda d: (d.status == DeviceStatus.OK, d.agent, d.hostname))
    counts = {status: sum(d.status == status for d in found) for status in DeviceStatus}
    return page(
        request,
        "devices.html",
        actor,
        title="Devices",
        devices=found,
        counts=counts,
        vault_version=VERSION,
        silent_after=devices.SILENT_AFTER,
        behind_after=devices.BEHIND_AFTER_SEGMENTS,
    )


@router.post("/console/devices/{device_id}/revoke", include_in_schema=False)
def revoke(device_id: uuid.UUID, actor: ConsoleActor, ctx: Context) -> Response:
    actor.require(Permission.DEVICE_MANAGE)
    devices.revoke(ctx.engine, device_id, now=ctx.clock(), by=actor.username)
    return RedirectResponse("/console/devices", status_code=303)
