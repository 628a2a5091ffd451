"""The console's pages, static files and error pages, added to the vault's application."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from vault.console import (
    device_pages,
    governance_pages,
    own_pages,
    recording_pages,
    retention_pages,
    session_pages,
    sign_in_pages,
)
from vault.console.headers import CONSOLE_PREFIX, ConsoleHeaders
from vault.console.rendering import STATIC, page
from vault.console.signed_in import SignInNeeded


def is_console(request: Request) -> bool:
    path = request.url.path
    return path == CONSOLE_PREFIX or path.startswith(CONSOLE_PREFIX + "/")


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    return page(
        request,
        "error.html",
        None,
        title="That did not work",
        status=status,
        message=message,
        back="/console/",
    )


def add_console(app: FastAPI) -> None:
    pages = (sign_in_pages, session_pages, recording_pages, governance_pages, own_pages)
    for module in (*pages, retention_pages, device_pages):
        app.include_router(module.router)
    app.mount(f"{CONSOLE_PREFIX}/static", StaticFiles(directory=STATIC), name="console-static")
    app.add_middleware(ConsoleHeaders)

    @app.exception_handler(SignInNeeded)
    async def sign_in_needed(_request: Request, exc: SignInNeeded) -> Response:
        return RedirectResponse(exc.location, status_code=303)
