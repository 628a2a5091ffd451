"""Signing in and out of the console, and the landing page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from vault import accounts, sign_in_links
from vault.api.auth import SESSION_COOKIE, refuse_foreign_origin, vault_context
from vault.api.sign_in import PasswordChecks, sign_in
from vault.console.forms import read_form
from vault.console.rendering import home_for, page
from vault.console.signed_in import ConsoleActor, SignInNeeded, console_actor, safe_return_path
from vault.errors import TooManyRequests, Unauthenticated

router = APIRouter()


@router.get("/console/", include_in_schema=False)
@router.get("/console", include_in_schema=False)
async def landing(request: Request) -> Response:
    try:
        actor = await console_actor(request)
    except SignInNeeded as needed:
        return RedirectResponse(needed.location, status_code=303)
    return RedirectResponse(home_for(actor), status_code=303)


@router.get("/console/sign-in", include_in_schema=False)
def sign_in_form(request: Request, then: str | None = None) -> HTMLResponse:
    return page(
        request,
        "sign_in.html",
        None,
        title="Sign in",
        then=safe_return_path(then),
        username="",
        problem=None,
    )


@router.post("/console/sign-in", include_in_schema=False)
async def sign_in_submitted(request: Request) -> Response:
    refuse_foreign_origin(request)
    form = await read_form(request)
    username = form.text("username", max_length=64, required=False) or ""
    password = form.text("password", max_length=1000, required=False) or ""
    then = safe_return_path(form.text("then", max_length=500, required=False))
    checks: PasswordChecks = request.app.state.password_checks
    source = request.client.host if request.client else "unknown"
    try:
        token = await sign_in(vault_context(request), checks, username, password, source=source)
    except (Unauthenticated, TooManyRequests) as refused:
        response: Response = page(
            request,
            "sign_in.html",
            None,
            title="Sign in",
            status=refused.status,
            then=then,
            username=username,
            problem=str(refused),
        )
        if refused.retry_after_s is not None:
            response.headers["Retry-After"] = str(refused.retry_after_s)
        return response
    response = RedirectResponse(then, status_code=303)
    _set_session_cookie(response, token)
    return response


def _set_session_cookie(response: Response, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        secure=True,
        samesite="strict",
        max_age=int(accounts.CONSOLE_TOKEN_LIFETIME.total_seconds()),
    )


@router.post("/console/sign-out", include_in_schema=False)
async def sign_out(request: Request, actor: ConsoleActor) -> Response:
    ctx = vault_context(request)
    token = request.cookies[SESSION_COOKIE]
    await run_in_threadpool(
        lambda: accounts.revoke_token(
            ctx.engine,
            actor.username,
            accounts.current_token_id(token),
            now=ctx.clock(),
            by=actor.username,
            action="sign-out",
        )
    )
    response = RedirectResponse("/console/sign-in", status_code=303)
    response.delete_cookie(SESSION_COOKIE, httponly=True, secure=True, samesite="strict")
    return response


@router.get("/console/account", include_in_schema=False)
def account(request: Request, actor: ConsoleActor) -> HTMLResponse:
    return page(request, "account.html", actor, title="Your account")


_Code = Annotated[str, Path(max_length=100)]


@router.get("/console/sign-in/once/{code}", include_in_schema=False)
def one_time_sign_in_form(request: Request, code: _Code) -> HTMLResponse:
    """A page, not the sign-in itself: a link preview that fetches the address must not
    spend the code."""
    return page(request, "sign_in_once.html", None, title="Sign in", code=code)


@router.post("/console/sign-in/once/{code}", include_in_schema=False)
async def one_time_sign_in(request: Request, code: _Code) -> Response:
    refuse_foreign_origin(request)
    ctx = vault_context(request)
    token = await run_in_threadpool(sign_in_links.redeem, ctx.engine, code, now=ctx.clock())
    response = RedirectResponse("/console/", status_code=303)
    _set_session_cookie(response, token)
    return response
