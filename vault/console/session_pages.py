"""Training sessions (R1): start one for an agent or a team, see them all, end one early."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from protocol.api.agent import TrainingSessionView
from protocol.api.vocabulary import MAX_NOTICE_CHARS, Purpose
from vault import sessions
from vault.api.auth import Context
from vault.console.forms import Form, read_form
from vault.console.rendering import page
from vault.console.signed_in import ConsoleActor
from vault.context import Actor, VaultContext
from vault.errors import VaultError
from vault.roles import Permission

DEFAULT_NOTICE = (
    "This call is being recorded for your training: only the business application's window"
    " and the call's sound, until you hang up."
)
MAX_HOURS = sessions.MAX_LIFETIME.days * 24


class SessionStatus(enum.StrEnum):
    ACTIVE = "active"
    USED_UP = "used up"
    ENDED = "ended"
    EXPIRED = "expired"


def status_of(session: TrainingSessionView, now: datetime) -> SessionStatus:
    if session.ended_at is not None:
        return SessionStatus.ENDED
    if session.calls_left <= 0:
        return SessionStatus.USED_UP
    if session.expires_at <= now:
        return SessionStatus.EXPIRED
    return SessionStatus.ACTIVE


router = APIRouter()


FORM_FIELDS = ("for", "who", "purpose", "calls", "hours", "notice")


@router.get("/console/sessions", include_in_schema=False)
def session_list(
    request: Request, actor: ConsoleActor, ctx: Context, started: uuid.UUID | None = None
) -> HTMLResponse:
    return _session_page(request, actor, ctx, started=started)


def _session_page(
    request: Request,
    actor: Actor,
    ctx: VaultContext,
    *,
    started: uuid.UUID | None = None,
    problem: VaultError | None = None,
    typed: dict[str, str] | None = None,
) -> HTMLResponse:
    actor.require(Permission.SESSION_LIST)
    now = ctx.clock()
    found = sessions.list_sessions(ctx.engine, actor, now=now)
    found.sort(key=lambda s: s.created_at, reverse=True)
    answer = page(
        request,
        "sessions.html",
        actor,
        title="Training sessions",
        rows=[(s, status_of(s, now)) for s in found],
        purposes=list(Purpose),
        started=started,
        default_notice=DEFAULT_NOTICE,
        max_notice=MAX_NOTICE_CHARS,
        max_calls=sessions.MAX_CALLS,
        max_hours=MAX_HOURS,
        problem=None if problem is None else str(problem),
        typed=typed or {},
    )
    if problem is not None:
        answer.status_code = problem.status
    return answer


@router.post("/console/sessions", include_in_schema=False)
async def start_session(request: Request, actor: ConsoleActor, ctx: Context) -> Response:
    form = await read_form(request)
    try:
        session_id = _start(form, actor, ctx)
    except VaultError as refused:
        if refused.status in (401, 403):
            raise
        # The form again, with what was typed and what was wrong: nothing to type twice.
        return _session_page(
            request, actor, ctx, problem=refused, typed=form.as_typed(*FORM_FIELDS)
        )
    return RedirectResponse(f"/console/sessions?started={session_id}", status_code=303)


def _start(form: Form, actor: Actor, ctx: VaultContext) -> uuid.UUID:
    who = form.required("who", max_length=64)
    kind = form.required("for", max_length=10)
    if kind not in ("agent", "team"):
        raise VaultError("choose whether the session is for an agent or a team")
    try:
        purpose = Purpose(form.required("purpose", max_length=40))
    except ValueError:
        raise VaultError("choose a purpose from the list") from None
    calls = int(form.number("calls", low=1, high=sessions.MAX_CALLS))
    hours = form.number("hours", low=0.25, high=MAX_HOURS)
    now = ctx.clock()
    return sessions.start(
        ctx.engine,
        actor,
        sessions.SessionRequest(
            purpose=purpose,
            calls=calls,
            expires_at=now + timedelta(hours=hours),
            notice_text=form.required("notice", max_length=MAX_NOTICE_CHARS),
            agent=who if kind == "agent" else None,
            team=who if kind == "team" else None,
        ),
        now=now,
    )


@router.post("/console/sessions/{session_id}/end", include_in_schema=False)
def end_session(session_id: uuid.UUID, actor: ConsoleActor, ctx: Context) -> Response:
    sessions.end(ctx.engine, actor, session_id, now=ctx.clock())
    return RedirectResponse("/console/sessions", status_code=303)
