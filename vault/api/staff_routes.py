"""Routes for people: sign-in, training sessions, recordings, releases, retention, the access
log, subject access, users and devices. Every route checks the role table (vault.roles)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from protocol.api.agent import AccessHistory, TrainingSessionList
from protocol.api.staff import (
    AuditDetails,
    AuditRecordList,
    AuditRecordView,
    AuditVerification,
    DeviceHealthList,
    DeviceRevoked,
    EnrolToken,
    EnrolTokenRequest,
    LegalHold,
    Login,
    Me,
    NewNote,
    NewSession,
    NewUser,
    NoteList,
    NoteView,
    Reason,
    RecordingDeleted,
    RecordingList,
    ReleaseList,
    ReleaseRequest,
    ReleaseStatus,
    RetentionReport,
    SessionEnded,
    SessionStarted,
    SignedIn,
    SignedOut,
    TokenList,
    TokenRevoked,
    TokenView,
    UserAdded,
    UserStatus,
)
from protocol.api.vocabulary import Purpose
from vault import (
    access,
    accounts,
    audit_checkpoints,
    audit_log,
    devices,
    notes,
    releases,
    retention,
    sessions,
    subject_access,
)
from vault.api.auth import (
    SESSION_COOKIE,
    Context,
    CurrentActor,
    CurrentToken,
    refuse_foreign_origin,
)
from vault.api.media_responses import BINARY_SCHEMA, RECORDING_MEDIA, Binary, media_response
from vault.api.sign_in import PasswordChecks, sign_in
from vault.context import all_identities
from vault.roles import Permission
from vault.sessions import SessionRequest

router = APIRouter(prefix="/api/v1")


@router.post("/login", tags=["people"])
async def login(body: Login, ctx: Context, request: Request, response: Response) -> SignedIn:
    """Sign in with a password; the token comes back as a cookie for the console and in the
    body for scripts. Failed sign-ins are throttled per account and per address (429 with
    Retry-After)."""
    refuse_foreign_origin(request)
    checks: PasswordChecks = request.app.state.password_checks
    source = request.client.host if request.client else "unknown"
    token = await sign_in(ctx, checks, body.username, body.password, source=source)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        secure=True,
        samesite="strict",
        max_age=int(accounts.CONSOLE_TOKEN_LIFETIME.total_seconds()),
    )
    return SignedIn(token=token)


@router.get("/me", tags=["people"])
def me(actor: CurrentActor) -> Me:
    return Me(username=actor.username, roles=sorted(actor.roles), team=actor.team)


@router.get("/me/access-history", tags=["people"])
def my_access_history(actor: CurrentActor, ctx: Context) -> AccessHistory:
    """Who accessed my own recordings (agents, R14)."""
    actor.require(Permission.OWN_ACCESS_VIEW)
    return AccessHistory(access.access_history(ctx, actor.user_id))


@router.post("/users", status_code=201, tags=["people"])
def add_user(body: NewUser, actor: CurrentActor, ctx: Context) -> UserAdded:
    actor.require(Permission.USER_MANAGE)
    roles = accounts.parse_roles(",".join(body.roles))
    accounts.add_user(
        ctx.engine,
        body.username,
        roles,
        now=ctx.clock(),
        by=actor.username,
        password=body.password,
        team=body.team,
    )
    return UserAdded(username=body.username)


@router.post("/logout", tags=["people"])
def logout(actor: CurrentActor, token: CurrentToken, ctx: Context, response: Response) -> SignedOut:
    """End the token this request is made with (the console's session or a script's)."""
    accounts.revoke_token(
        ctx.engine,
        actor.username,
        accounts.current_token_id(token),
        now=ctx.clock(),
        by=actor.username,
        action="sign-out",
    )
    response.delete_cookie(SESSION_COOKIE, httponly=True, secure=True, samesite="strict")
    return SignedOut()


def _token_list(ctx: Context, username: str, token: str) -> TokenList:
    current = accounts.current_token_id(token)
    return TokenList(
        [
            TokenView(
                id=info.id,
                label=info.label,
                created_at=info.created_at,
                expires_at=info.expires_at,
                current=info.id == current,
            )
            for info in accounts.tokens_of(ctx.engine, username, now=ctx.clock())
        ]
    )


TokenId = Annotated[str, Path(pattern=f"^[0-9a-f]{{{accounts.TOKEN_ID_LENGTH}}}$")]
Username = Annotated[str, Path(max_length=64)]


@router.get("/me/tokens", tags=["people"])
def my_tokens(actor: CurrentActor, token: CurrentToken, ctx: Context) -> TokenList:
    """My unexpired tokens: console sessions and command-line tokens."""
    return _token_list(ctx, actor.username, token)


@router.delete("/me/tokens/{token_id}", tags=["people"])
def revoke_my_token(token_id: TokenId, actor: CurrentActor, ctx: Context) -> TokenRevoked:
    accounts.revoke_token(ctx.engine, actor.username, token_id, now=ctx.clock(), by=actor.username)
    return TokenRevoked(id=token_id)


@router.get("/users/{username}/tokens", tags=["people"])
def user_tokens(
    username: Username, actor: CurrentActor, token: CurrentToken, ctx: Context
) -> TokenList:
    actor.require(Permission.USER_MANAGE)
    return _token_list(ctx, username, token)


@router.delete("/users/{username}/tokens/{token_id}", tags=["people"])
def revoke_user_token(
    username: Username, token_id: TokenId, actor: CurrentActor, ctx: Context
) -> TokenRevoked:
    actor.require(Permission.USER_MANAGE)
    accounts.revoke_token(ctx.engine, username, token_id, now=ctx.clock(), by=actor.username)
    return TokenRevoked(id=token_id)


@router.post("/users/{username}/disable", tags=["people"])
def disable_user(username: Username, actor: CurrentActor, ctx: Context) -> UserStatus:
    """Every token of the user ends at once, and their devices' requests are refused."""
    actor.require(Permission.USER_MANAGE)
    ended = accounts.set_disabled(ctx.engine, username, True, now=ctx.clock(), by=actor.username)
    return UserStatus(username=username, disabled=True, tokens_ended=ended)


@router.post("/users/{username}/enable", tags=["people"])
def enable_user(username: Username, actor: CurrentActor, ctx: Context) -> UserStatus:
    actor.require(Permission.USER_MANAGE)
    accounts.set_disabled(ctx.engine, username, False, now=ctx.clock(), by=actor.username)
    return UserStatus(username=username, disabled=False, tokens_ended=0)


@router.post("/enrol-tokens", status_code=201, tags=["devices"])
def new_enrol_token(body: EnrolTokenRequest, actor: CurrentActor, ctx: Context) -> EnrolToken:
    actor.require(Permission.DEVICE_MANAGE)
    token = devices.issue_enrol_token(ctx.engine, body.agent, by=actor.username, now=ctx.clock())
    return EnrolToken(token=token, agent=body.agent)


@router.get("/devices", tags=["devices"])
def device_health(actor: CurrentActor, ctx: Context) -> DeviceHealthList:
    """Every enrolled machine with its last heartbeat, version and backlog (R23)."""
    actor.require(Permission.HEALTH_VIEW)
    return DeviceHealthList(devices.health(ctx.engine, now=ctx.clock()))


@router.post("/devices/{device_id}/revoke", tags=["devices"])
def revoke_device(device_id: uuid.UUID, actor: CurrentActor, ctx: Context) -> DeviceRevoked:
    actor.require(Permission.DEVICE_MANAGE)
    devices.revoke(ctx.engine, device_id, now=ctx.clock(), by=actor.username)
    return DeviceRevoked(device_id=device_id)


@router.post("/sessions", status_code=201, tags=["sessions"])
def start_session(body: NewSession, actor: CurrentActor, ctx: Context) -> SessionStarted:
    request = SessionRequest(
        purpose=body.purpose,
        calls=body.calls,
        expires_at=body.expires_at,
        notice_text=body.notice_text,
        agent=body.agent,
        team=body.team,
    )
    session_id = sessions.start(ctx.engine, actor, request, now=ctx.clock())
    return SessionStarted(session_id=session_id)


@router.get("/sessions", tags=["sessions"])
def list_sessions(actor: CurrentActor, ctx: Context) -> TrainingSessionList:
    return TrainingSessionList(sessions.list_sessions(ctx.engine, actor, now=ctx.clock()))


@router.post("/sessions/{session_id}/end", tags=["sessions"])
def end_session(session_id: uuid.UUID, actor: CurrentActor, ctx: Context) -> SessionEnded:
    sessions.end(ctx.engine, actor, session_id, now=ctx.clock())
    return SessionEnded(session_id=session_id)


@router.get("/recordings", tags=["recordings"])
def list_recordings(actor: CurrentActor, ctx: Context) -> RecordingList:
    return RecordingList(access.list_recordings(ctx, actor))


@router.get("/recordings/{recording_id}/notes", tags=["recordings"])
def recording_notes(recording_id: uuid.UUID, actor: CurrentActor, ctx: Context) -> NoteList:
    """Coaching notes: for the recording's reviewers, and for its agent."""
    return NoteList(notes.notes_on(ctx, actor, recording_id))


@router.post("/recordings/{recording_id}/notes", status_code=201, tags=["recordings"])
def add_note(recording_id: uuid.UUID, body: NewNote, actor: CurrentActor, ctx: Context) -> NoteView:
    """A coaching note at a moment of the recording (logged, without its text)."""
    return notes.add(ctx, actor, recording_id, body)


@router.get(
    "/recordings/{recording_id}/download",
    tags=["recordings"],
    response_class=Binary,
    responses=RECORDING_MEDIA,
)
def download(
    recording_id: uuid.UUID,
    purpose: Purpose,
    actor: CurrentActor,
    ctx: Context,
    *,
    incomplete: Annotated[
        bool, Query(description="take a recording with segments missing, as it is")
    ] = False,
) -> Response:
    """The recording as one file. A recording with segments missing is refused (409
    recording-incomplete, naming them) unless `incomplete=true`; the answer's
    Callreel-Recording-Complete header says which it is."""
    if not incomplete:
        access.refuse_if_incomplete(ctx, recording_id)
    media = access.open_recording(
        ctx,
        actor,
        recording_id,
        purpose,
        action="download",
        permission=Permission.RECORDING_DOWNLOAD,
    )
    return media_response(media, None, attachment=True)


@router.put("/recordings/{recording_id}/hold", tags=["retention"])
def set_hold(recording_id: uuid.UUID, body: Reason, actor: CurrentActor, ctx: Context) -> LegalHold:
    retention.set_hold(ctx, actor, recording_id, body.reason)
    return LegalHold(recording_id=recording_id, legal_hold=body.reason)


@router.delete("/recordings/{recording_id}/hold", tags=["retention"])
def clear_hold(recording_id: uuid.UUID, actor: CurrentActor, ctx: Context) -> LegalHold:
    retention.clear_hold(ctx, actor, recording_id)
    return LegalHold(recording_id=recording_id, legal_hold="")


@router.post("/recordings/{recording_id}/delete", tags=["retention"])
def delete_recording(
    recording_id: uuid.UUID, body: Reason, actor: CurrentActor, ctx: Context
) -> RecordingDeleted:
    """Destroy the recording's key now (crypto-shredding) and delete what segments the
    store's Object Lock already allows."""
    left = retention.delete_recording(ctx, actor, recording_id, body.reason)
    return RecordingDeleted(recording_id=recording_id, segments_locked=left)


@router.post("/retention/run", tags=["retention"])
def run_retention(actor: CurrentActor, ctx: Context) -> RetentionReport:
    actor.require(Permission.RETENTION_RUN)
    report = retention.run(ctx, actor=actor.username)
    return RetentionReport(
        shredded=report.shredded, held=report.held, segments_locked=report.segments_left
    )


@router.post("/recordings/{recording_id}/releases", status_code=201, tags=["releases"])
def request_release(
    recording_id: uuid.UUID, body: ReleaseRequest, actor: CurrentActor, ctx: Context
) -> ReleaseStatus:
    release_id = releases.request(
        ctx,
        actor,
        recording_id,
        purpose=body.purpose,
        recipient=body.recipient,
        reason=body.reason,
    )
    return ReleaseStatus(release_id=release_id, status="requested")


@router.post("/releases/{release_id}/authorise", tags=["releases"])
def authorise_release(release_id: uuid.UUID, actor: CurrentActor, ctx: Context) -> ReleaseStatus:
    releases.authorise(ctx, actor, release_id)
    return ReleaseStatus(release_id=release_id, status="authorised")


@router.get("/releases", tags=["releases"])
def release_log(actor: CurrentActor, ctx: Context) -> ReleaseList:
    return ReleaseList(releases.release_log(ctx, actor))


@router.get(
    "/releases/{release_id}/export",
    tags=["releases"],
    response_class=Binary,
    responses=RECORDING_MEDIA,
)
def export_release(release_id: uuid.UUID, actor: CurrentActor, ctx: Context) -> Response:
    return media_response(releases.export(ctx, actor, release_id), None, attachment=True)


@router.get("/audit", tags=["audit"])
def read_audit(actor: CurrentActor, ctx: Context) -> AuditRecordList:
    actor.require(Permission.AUDIT_READ)
    with ctx.engine.connect() as connection:
        records = audit_log.read_records(connection)
    return AuditRecordList(
        [
            AuditRecordView(
                sequence=r.sequence,
                at=datetime.fromisoformat(r.at),
                actor=r.actor,
                action=r.action,
                subject=r.subject,
                details=AuditDetails.model_validate(dict(r.details)),
                record_hash=r.record_hash,
            )
            for r in records
        ]
    )


@router.get("/audit/verify", tags=["audit"])
def verify_audit(
    actor: CurrentActor,
    ctx: Context,
    expected_head: Annotated[str | None, Query(pattern="^[0-9a-f]{64}$")] = None,
) -> AuditVerification:
    actor.require(Permission.AUDIT_READ)
    try:
        checkpoints = (
            []
            if ctx.audit_checkpoints is None
            else audit_checkpoints.read_file(ctx.audit_checkpoints, all_identities(ctx))
        )
    except audit_checkpoints.CheckpointFileError as exc:
        return AuditVerification(records=0, intact=False, head=None, problem=str(exc))
    count, broken, head = audit_log.verify(ctx.engine, expected_head, checkpoints)
    return AuditVerification(
        records=count,
        intact=broken is None,
        head=head,
        problem=None if broken is None else broken.describe(),
    )


@router.get(
    "/agents/{username}/subject-access",
    tags=["people"],
    response_class=Binary,
    responses={
        200: {
            "description": "everything the vault holds about the agent, as one zip",
            "content": {"application/zip": BINARY_SCHEMA},
        }
    },
)
def subject_access_export(username: str, actor: CurrentActor, ctx: Context) -> Response:
    archive = subject_access.export_agent(ctx, actor, username)
    return Response(
        archive,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="subject-access-{username}.zip"'},
    )
