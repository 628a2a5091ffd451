"""Routes for enrolled agent machines: enrolment, their sessions, uploads, heartbeats, and
who accessed the agent's own recordings. Bodies are protocol/api/agent.py's models."""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from protocol.api.agent import (
    AccessHistory,
    ConsoleLink,
    EnrolmentGranted,
    EnrolmentRequest,
    Heartbeat,
    HeartbeatReceived,
    RecordingEnded,
    RecordingEndReport,
    RecordingRegistered,
    RecordingRegistration,
    SegmentStored,
    TrainingSessionList,
    sessions_etag,
)
from vault import access, devices, fleet_enrolment, ingest, sessions, sign_in_links
from vault.api.auth import Context, CurrentDevice, UploadingDevice
from vault.api.session_changes import MAX_WAIT_S, SessionChanges
from vault.errors import VaultError
from vault.fleet_enrolment import FLEET_TOKEN_PREFIX
from vault.roles import Role

router = APIRouter(prefix="/api/v1/agent", tags=["agent"])

SHA256 = Annotated[str, Path(pattern="^[0-9a-f]{64}$", description="SHA-256 of the body, hex")]

_SEGMENT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


@router.post("/enrol", status_code=201)
def enrol(body: EnrolmentRequest, ctx: Context) -> EnrolmentGranted:
    """Exchange an enrolment token for a device identity (unsigned: the token is the
    credential). A fleet token (crf_...) needs the OS login, which names the agent."""
    if body.token.startswith(FLEET_TOKEN_PREFIX):
        if body.login is None:
            raise VaultError(
                "a fleet enrolment token needs the OS login name (login); update the agent"
            )
        device = fleet_enrolment.enrol_with_fleet_token(
            ctx.engine, body.token, body.public_key, body.hostname, body.login, now=ctx.clock()
        )
    else:
        device = devices.enrol(
            ctx.engine, body.token, body.public_key, body.hostname, now=ctx.clock()
        )
    return EnrolmentGranted(
        device_id=device.id,
        agent=device.agent_username,
        vault_recipient=ctx.identity.recipient.to_text().strip(),
    )


@router.get(
    "/sessions",
    response_model=TrainingSessionList,
    responses={304: {"description": "no change from If-None-Match within `wait` seconds"}},
)
async def my_sessions(
    device: CurrentDevice,
    ctx: Context,
    request: Request,
    response: Response,
    *,
    wait: Annotated[float, Query(ge=0, le=MAX_WAIT_S)] = 0.0,
    if_none_match: Annotated[str | None, Header(max_length=100)] = None,
) -> TrainingSessionList | Response:
    """The active training sessions that apply to this machine's agent, with an ETag.

    With `wait` and the ETag of what the agent has (If-None-Match), the answer waits up to
    `wait` seconds for a trainer to start or end one of them (vault/api/session_changes.py),
    then says 304 if nothing changed."""
    changes: SessionChanges = request.app.state.session_changes
    deadline = time.monotonic() + wait
    while True:
        generation = changes.generation  # before reading: a change meanwhile wakes us at once
        current = await run_in_threadpool(sessions.for_device, ctx.engine, device, now=ctx.clock())
        answer = TrainingSessionList(current)
        tag = sessions_etag(answer)
        left = deadline - time.monotonic()
        if tag != if_none_match or left <= 0 or not changes.can_wait():
            break
        if await changes.wait_after(generation, left) == generation:
            break  # waited it out: nothing changed
    if tag == if_none_match:
        return Response(status_code=304, headers={"ETag": tag})
    response.headers["ETag"] = tag
    return answer


@router.post("/recordings")
def register_recording(
    body: RecordingRegistration, device: CurrentDevice, ctx: Context, response: Response
) -> RecordingRegistered:
    """Count a new recording against its session's quota (refused with 403 when used up)."""
    created = ingest.register_recording(
        ctx, device, body.recording_id, body.session_id, body.started_at
    )
    response.status_code = 201 if created else 200
    return RecordingRegistered(recording_id=body.recording_id)


@router.post("/recordings/{recording_id}/end")
def end_recording(
    recording_id: uuid.UUID, body: RecordingEndReport, device: CurrentDevice, ctx: Context
) -> RecordingEnded:
    ingest.end_recording(ctx, device, recording_id, body.state)
    return RecordingEnded(recording_id=recording_id, state=body.state)


SEGMENT_UPLOADS = f"{router.prefix}/segments/"
"""Where the large bodies go; every other route takes a small JSON body (vault/api/app.py)."""


@router.put("/segments/{sha256}", openapi_extra=_SEGMENT_BODY)
async def upload_segment(
    sha256: SHA256, upload: UploadingDevice, ctx: Context, response: Response
) -> SegmentStored:
    """Store one sealed segment, named by the SHA-256 of its bytes. 201 when stored, 200 when
    it already was (a retry), 409 when different bytes hold that place in the recording."""
    body = await run_in_threadpool(upload.body.read)
    stored = await run_in_threadpool(ingest.store_segment, ctx, upload.device, sha256, body)
    response.status_code = 201 if stored.created else 200
    return SegmentStored(
        recording_id=stored.recording_id,
        segment_index=stored.segment_index,
        sha256=stored.sha256,
    )


@router.post("/heartbeat")
def heartbeat(body: Heartbeat, device: CurrentDevice, ctx: Context) -> HeartbeatReceived:
    devices.record_heartbeat(
        ctx.engine,
        device,
        agent_version=body.agent_version,
        backlog_segments=body.backlog_segments,
        backlog_bytes=body.backlog_bytes,
        now=ctx.clock(),
    )
    announced = ctx.announced_tls_pins
    return HeartbeatReceived(
        vault_recipient=ctx.identity.recipient.to_text().strip(),
        vault_tls_pins=None if announced is None else announced(),
    )


@router.get("/access-history")
def access_history(device: CurrentDevice, ctx: Context) -> AccessHistory:
    """Who accessed this agent's recordings, for the tray's "my recordings" view."""
    return AccessHistory(access.access_history(ctx, device.agent_user_id))


@router.post("/console-link", status_code=201)
def console_link(device: CurrentDevice, ctx: Context) -> ConsoleLink:
    """A one-time sign-in to the console as this device's agent, limited to the agent role:
    the tray opens the agent's own recordings in the browser with it (no password)."""
    agent = device.agent_username
    now = ctx.clock()
    code = sign_in_links.issue(
        ctx.engine, agent, now=now, by=f"device {device.id}", roles=frozenset({Role.AGENT})
    )
    return ConsoleLink(path=sign_in_links.PATH + code, expires_at=now + sign_in_links.LINK_LIFETIME)
