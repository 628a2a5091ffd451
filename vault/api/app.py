"""The vault's ASGI application."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from protocol.api.errors import ErrorBody, ValidationErrorBody, ValidationProblem
from protocol.api.staff import Health
from protocol.version import VERSION
from vault.api import agent_routes, fleet_routes, playback_routes, staff_routes
from vault.api.auth import MAX_JSON_BYTES
from vault.api.checkpoint_loop import CheckpointLoop
from vault.api.request_bounds import RequestBounds
from vault.api.serving_limits import ServingLimits
from vault.api.session_changes import SessionChanges
from vault.api.sign_in import PasswordChecks
from vault.audit_checkpoint_writer import CheckpointWriter
from vault.console.routes import add_console, error_page, is_console
from vault.context import VaultContext
from vault.disk_space import RETRY_AFTER_S, is_disk_full
from vault.errors import VaultError
from vault.playback import TICKET_SECRET_PURPOSE, PlaybackTickets
from vault.playback_segments import SegmentPlayer
from vault.storage.base import SegmentStoreError

log = logging.getLogger("callreel.vault")

_REFUSALS = {
    400: "the request is malformed or fails a check (the message names which)",
    401: "not signed in, or the device's signature is missing, stale or replayed",
    403: "signed in, but the role table, the purpose or the quota does not allow it",
    404: "no such object",
    409: "conflicts with what is stored",
    410: "the recording was deleted (its key is destroyed)",
    413: "the body is over the size limit",
    429: "too many failed sign-ins from this account or address; Retry-After says when",
    503: "storage, the database or the access log is unavailable, or a disk is full; nothing"
    " was stored or released; Retry-After says when to try again",
}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    **{status: {"model": ErrorBody, "description": text} for status, text in _REFUSALS.items()},
    422: {
        "model": ValidationErrorBody,
        "description": "the request does not fit the route's schema (the message says where)",
    },
}


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(ErrorBody(error=code, message=message).model_dump(), status_code=status)


def _unavailable(code: str, reason: str) -> JSONResponse:
    response = _error(503, code, f"{reason}; an operator has to act; retry later")
    response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response


def create_app(ctx: VaultContext, limits: ServingLimits | None = None) -> FastAPI:
    limits = limits or ServingLimits()
    session_changes = SessionChanges(ctx.engine)

    checkpoint_loop = CheckpointLoop(
        None
        if ctx.audit_checkpoints is None
        else CheckpointWriter(
            ctx.engine,
            ctx.identity,
            ctx.retired_identities.values(),
            ctx.audit_checkpoints,
            store=ctx.store,
            clock=ctx.clock,
        )
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Watching from the start, so that a change just before the first agent waits is
        # not taken for the state it waits on.
        session_changes.start()
        checkpoint_loop.start()
        yield
        await session_changes.close()
        password_checks.close()
        await checkpoint_loop.close()

    app = FastAPI(
        lifespan=lifespan,
        title="Callreel vault",
        version=VERSION,
        description="Receives sealed recording segments from enrolled agents, keeps their keys,"
        " and releases recordings only to authorised people, logging every access first.",
    )
    app.state.vault = ctx
    app.state.playback_tickets = PlaybackTickets(ctx.identity.derived_secret(TICKET_SECRET_PURPOSE))
    app.state.segment_player = SegmentPlayer()
    app.state.session_changes = session_changes
    password_checks = PasswordChecks(limits.password_checks)
    app.state.password_checks = password_checks

    @app.exception_handler(VaultError)
    async def vault_error(request: Request, exc: VaultError) -> Response:
        response = (
            error_page(request, exc.status, str(exc))
            if is_console(request)
            else _error(exc.status, exc.code, str(exc))
        )
        if exc.retry_after_s is not None:
            response.headers["Retry-After"] = str(exc.retry_after_s)
        return response

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        # Framework refusals (unparsable body, wrong method) in the vault's one error shape.
        response = (
            error_page(request, exc.status_code, str(exc.detail))
            if is_console(request)
            else _error(exc.status_code, f"http-{exc.status_code}", str(exc.detail))
        )
        response.headers.update(exc.headers or {})
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        # Where and what only: FastAPI would also echo the offending input, which may be a
        # password or a token.
        problems = [
            ValidationProblem(
                loc=[part if isinstance(part, int) else str(part) for part in problem["loc"]],
                msg=str(problem["msg"]),
                type=str(problem["type"]),
            )
            for problem in exc.errors()
        ]
        summary = "; ".join(
            f"{'.'.join(str(part) for part in problem.loc)}: {problem.msg}"
            for problem in problems[:5]
        )
        if is_console(request):
            return error_page(request, 422, f"Something in the address is not right: {summary}")
        body = ValidationErrorBody(error="invalid-request", message=summary, detail=problems)
        return JSONResponse(body.model_dump(mode="json"), status_code=422)

    @app.exception_handler(SegmentStoreError)
    async def store_error(_request: Request, exc: SegmentStoreError) -> JSONResponse:
        log.error("segment storage failed: %s", exc)
        if is_disk_full(exc):
            return _unavailable("storage-full", f"the vault's segment storage is full: {exc}")
        return _unavailable("storage-unavailable", f"segment storage failed: {exc}")

    @app.exception_handler(OSError)
    async def os_error(_request: Request, exc: OSError) -> JSONResponse:
        if not is_disk_full(exc):
            raise exc
        where = f" ({exc.filename})" if exc.filename else ""
        log.error("the vault's disk is full%s: %s", where, exc.strerror)
        return _unavailable("disk-full", f"the vault's disk is full{where}; nothing was stored")

    @app.exception_handler(sa.exc.OperationalError)
    async def database_error(_request: Request, exc: sa.exc.OperationalError) -> JSONResponse:
        log.error("the database failed: %s", exc.orig)
        if is_disk_full(exc):
            return _unavailable(
                "database-full", "the vault database's disk is full; nothing was stored"
            )
        return _unavailable(
            "database-unavailable", f"the vault database failed ({type(exc.orig).__name__})"
        )

    @app.get("/api/v1/health", tags=["health"])
    def health() -> Health:
        """Unauthenticated liveness check."""
        return Health(version=VERSION)

    for routes in (agent_routes, staff_routes, fleet_routes, playback_routes):
        app.include_router(routes.router, responses=ERROR_RESPONSES)
    add_console(app)

    def body_limit_for(path: str) -> int:
        if path.startswith(agent_routes.SEGMENT_UPLOADS):
            return ctx.max_segment_bytes
        return MAX_JSON_BYTES

    app.add_middleware(
        RequestBounds, max_header_count=limits.max_header_count, body_limit_for=body_limit_for
    )
    return app
