"""The vault's ASGI application."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from agent import __version__
from vault.api import agent_routes, staff_routes
from vault.context import VaultContext
from vault.errors import VaultError
from vault.playback import PlaybackTickets
from vault.segment_store import SegmentStoreError

log = logging.getLogger("callreel.vault")


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status)


def create_app(ctx: VaultContext) -> FastAPI:
    app = FastAPI(
        title="Callreel vault",
        version=__version__,
        description="Receives sealed recording segments from enrolled agents, keeps their keys,"
        " and releases recordings only to authorised people, logging every access first.",
    )
    app.state.vault = ctx
    app.state.playback_tickets = PlaybackTickets()

    @app.exception_handler(VaultError)
    async def vault_error(_request: Request, exc: VaultError) -> JSONResponse:
        return _error(exc.status, exc.code, str(exc))

    @app.exception_handler(SegmentStoreError)
    async def store_error(_request: Request, exc: SegmentStoreError) -> JSONResponse:
        log.error("segment storage failed: %s", exc)
        return _error(503, "storage-unavailable", f"segment storage failed: {exc}")

    @app.get("/api/v1/health", tags=["health"])
    def health() -> dict[str, str]:
        """Unauthenticated liveness check."""
        return {"status": "ok", "version": __version__}

    app.include_router(agent_routes.router)
    app.include_router(staff_routes.router)
    return app
