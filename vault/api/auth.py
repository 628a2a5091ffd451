"""Who is asking: a person (bearer token or the console's cookie) or an enrolled device
(signed request)."""

from __future__ import annotations

import functools
import hashlib
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, BinaryIO

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool

from vault import accounts, devices
from vault.api.same_origin import SAFE_METHODS, same_origin
from vault.context import Actor, VaultContext
from vault.devices import ClaimedDevice, Device
from vault.errors import Forbidden, Unauthenticated

SESSION_COOKIE = "callreel_session"
MAX_JSON_BYTES = 64 * 1024


def vault_context(request: Request) -> VaultContext:
    ctx: VaultContext = request.app.state.vault
    return ctx


Context = Annotated[VaultContext, Depends(vault_context)]


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("Authorization must be 'Bearer TOKEN'")
        return token.strip()
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        refuse_cross_site(request)
        return cookie
    raise Unauthenticated("sign in first: send 'Authorization: Bearer TOKEN'")


def refuse_cross_site(request: Request) -> None:
    """A change made with the console's cookie must come from the vault's own pages."""
    if request.method in SAFE_METHODS:
        return
    origin = request.headers.get("origin")
    if not same_origin(origin, request.headers.get("host")):
        raise Forbidden(
            f"refused a {request.method} with the console's cookie from origin"
            f" {(origin or 'none')[:100]!r}: changes are accepted from the vault's own pages,"
            " or with 'Authorization: Bearer TOKEN'",
            code="cross-site-request",
        )


def refuse_foreign_origin(request: Request) -> None:
    """For requests before sign-in (the sign-in itself): a browser that states another
    origin is refused; scripts, which state none, are not."""
    origin = request.headers.get("origin")
    if origin is not None and not same_origin(origin, request.headers.get("host")):
        raise Forbidden(
            f"refused a sign-in from a page of origin {origin[:100]!r}: sign in on the"
            " vault's own pages",
            code="cross-site-request",
        )


def current_token(request: Request) -> str:
    """The token this request is made with (bearer header, else the console's cookie)."""
    return _bearer(request)


CurrentToken = Annotated[str, Depends(current_token)]


def current_actor(token: CurrentToken, ctx: Context) -> Actor:
    if len(token) > 200:
        raise Unauthenticated("token is not one this vault issued")
    with ctx.engine.connect() as connection:
        return accounts.actor_for_token(connection, token, now=ctx.clock())


CurrentActor = Annotated[Actor, Depends(current_actor)]


def _signed_target(request: Request) -> str:
    # Devices sign the path as sent, so verify against the raw bytes, not the decoded path.
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    query = request.scope.get("query_string", b"")
    return raw_path.decode("latin-1") + (f"?{query.decode('latin-1')}" if query else "")


async def _claimed_device(request: Request) -> ClaimedDevice:
    ctx = vault_context(request)
    return await run_in_threadpool(devices.claimed_device, ctx.engine, request.headers)


async def _signed_by(request: Request, claimed: ClaimedDevice, body_sha256: str) -> Device:
    ctx = vault_context(request)
    return await run_in_threadpool(
        functools.partial(
            devices.authenticate,
            ctx.engine,
            claimed,
            headers=request.headers,
            method=request.method,
            path_and_query=_signed_target(request),
            body_sha256=body_sha256,
            now=ctx.clock(),
        )
    )


async def current_device(request: Request) -> Device:
    """A signed request with a small body (RequestBounds keeps it to MAX_JSON_BYTES)."""
    claimed = await _claimed_device(request)
    body = await request.body()
    return await _signed_by(request, claimed, hashlib.sha256(body).hexdigest())


@dataclass(frozen=True, slots=True)
class SignedUpload:
    device: Device
    body: BinaryIO
    """The body as received, in an unnamed file in the vault's scratch directory."""


async def signed_upload(request: Request) -> AsyncIterator[SignedUpload]:
    """A signed upload, streamed to disk and hashed on the way: the body is held in memory
    only once the signature over it has verified."""
    claimed = await _claimed_device(request)
    ctx = vault_context(request)
    with tempfile.TemporaryFile(dir=ctx.scratch) as spooled:
        digest = hashlib.sha256()
        async for chunk in request.stream():
            digest.update(chunk)
            spooled.write(chunk)
        device = await _signed_by(request, claimed, digest.hexdigest())
        spooled.seek(0)
        yield SignedUpload(device, spooled)


CurrentDevice = Annotated[Device, Depends(current_device)]
UploadingDevice = Annotated[SignedUpload, Depends(signed_upload)]
