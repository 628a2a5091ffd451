"""Fleet enrolment tokens for administrators: create (shown once), list, revoke, and the
requests they refused for want of an agent account (vault/fleet_enrolment.py)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from fastapi import APIRouter

from protocol.api.staff import (
    FleetTokenCreated,
    FleetTokenList,
    FleetTokenRevoked,
    FleetTokenView,
    NewFleetToken,
    PendingEnrolmentList,
    PendingEnrolmentView,
)
from vault import fleet_enrolment
from vault.api.auth import Context, CurrentActor
from vault.fleet_enrolment import FleetToken
from vault.roles import Permission

router = APIRouter(prefix="/api/v1", tags=["devices"])


def fleet_token_view(token: FleetToken, ctx: Context) -> FleetTokenView:
    return FleetTokenView(
        id=token.id,
        team=token.team,
        label=token.label,
        uses=token.uses,
        max_uses=token.max_uses,
        creates_agents=token.creates_agents,
        created_by=token.created_by,
        created_at=token.created_at,
        expires_at=token.expires_at,
        revoked_at=token.revoked_at,
        usable=token.refusal(ctx.clock()) is None,
    )


@router.post("/fleet-tokens", status_code=201)
def new_fleet_token(body: NewFleetToken, actor: CurrentActor, ctx: Context) -> FleetTokenCreated:
    actor.require(Permission.DEVICE_MANAGE)
    token, made = fleet_enrolment.create_fleet_token(
        ctx.engine,
        team=body.team,
        max_uses=body.uses,
        valid_for=timedelta(days=body.days),
        creates_agents=body.creates_agents,
        label=body.label,
        by=actor.username,
        now=ctx.clock(),
    )
    return FleetTokenCreated(token=token, fleet_token=fleet_token_view(made, ctx))


@router.get("/fleet-tokens")
def fleet_tokens(actor: CurrentActor, ctx: Context) -> FleetTokenList:
    actor.require(Permission.DEVICE_MANAGE)
    return FleetTokenList(
        [fleet_token_view(token, ctx) for token in fleet_enrolment.list_fleet_tokens(ctx.engine)]
    )


@router.post("/fleet-tokens/{token_id}/revoke")
def revoke_fleet_token(token_id: uuid.UUID, actor: CurrentActor, ctx: Context) -> FleetTokenRevoked:
    actor.require(Permission.DEVICE_MANAGE)
    fleet_enrolment.revoke_fleet_token(ctx.engine, token_id, by=actor.username, now=ctx.clock())
    return FleetTokenRevoked(id=token_id)


@router.get("/enrolment-requests")
def pending_enrolments(actor: CurrentActor, ctx: Context) -> PendingEnrolmentList:
    actor.require(Permission.DEVICE_MANAGE)
    return PendingEnrolmentList(
        [
            PendingEnrolmentView(
                account=pending.account,
                login=pending.login,
                hostname=pending.hostname,
                team=pending.team,
                fleet_token=pending.token_id,
                first_at=pending.first_at,
                last_at=pending.last_at,
                attempts=pending.attempts,
            )
            for pending in fleet_enrolment.pending_enrolments(ctx.engine)
        ]
    )
