"""Who is looking at a console page: the person signed in with the console's cookie (the
same cookie, token and checks as the API), or a redirect to the sign-in page."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool

from vault import accounts
from vault.api.auth import SESSION_COOKIE, refuse_cross_site, vault_context
from vault.context import Actor
from vault.errors import Unauthenticated

SIGN_IN_PATH = "/console/sign-in"


class SignInNeeded(Exception):  # noqa: N818  (a redirect, not a failure)
    """Answered with a redirect to the sign-in page, which comes back to `then`."""

    def __init__(self, then: str, reason: str | None = None) -> None:
        super().__init__(reason or "sign in first")
        self.then = then
        self.reason = reason

    @property
    def location(self) -> str:
        return f"{SIGN_IN_PATH}?then={quote(self.then, safe='/')}"


def safe_return_path(then: str | None) -> str:
    """Where to go after signing in: only a console path on this origin (never `//host`)."""
    if not then or not then.startswith("/console/") or then.startswith("//") or "\\" in then:
        return "/console/"
    return then[:500]


async def console_actor(request: Request) -> Actor:
    token = request.cookies.get(SESSION_COOKIE)
    here = request.url.path if request.method == "GET" else "/console/"
    if not token or len(token) > 200:
        raise SignInNeeded(here)
    refuse_cross_site(request)
    ctx = vault_context(request)

    def find() -> Actor:
        with ctx.engine.connect() as connection:
            return accounts.actor_for_token(connection, token, now=ctx.clock())

    try:
        return await run_in_threadpool(find)
    except Unauthenticated as exc:
        raise SignInNeeded(here, str(exc)) from None


ConsoleActor = Annotated[Actor, Depends(console_actor)]
