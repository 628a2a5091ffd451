"""Who is asking: a person (bearer token or the console's cookie) or an enrolled device
(signed request)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool

from vault import accounts, devices
from vault.context import Actor, VaultContext
from vault.devices import Device
from vault.errors import TooLarge, Unauthenticated, VaultError

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
        return cookie
    raise Unauthenticated("sign in first: send 'Authorization: Bearer TOKEN'")


def current_actor(request: Request, ctx: Context) -> Actor:
    token = _bearer(request)
    if len(token) > 200:
        raise Unauthenticated("token is not one this vault issued")
    with ctx.engine.connect() as connection:
        return accounts.actor_for_token(connection, token, now=ctx.clock())


CurrentActor = Annotated[Actor, Depends(current_actor)]


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 before it is read past `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise VaultError("Content-Length is not a number")
        if int(declared) > limit:
            raise TooLarge(f"request body of {declared} bytes exceeds {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"request body exceeds {limit} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    request._body = body
    return body


async def _device(request: Request, limit: int) -> Device:
    ctx = vault_context(request)
    body = await read_body(request, limit)
    # Devices sign the path as sent, so verify against the raw bytes, not the decoded path.
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    query = request.scope.get("query_string", b"")
    path = raw_path.decode("latin-1") + (f"?{query.decode('latin-1')}" if query else "")
    return await run_in_threadpool(
        devices.authenticate,
        ctx.engine,
        request.headers,
        request.method,
        path,
        body,
        now=ctx.clock(),
    )


async def current_device(request: Request) -> Device:
    return await _device(request, MAX_JSON_BYTES)


async def uploading_device(request: Request) -> Device:
    return await _device(request, vault_context(request).max_segment_bytes)


CurrentDevice = Annotated[Device, Depends(current_device)]
UploadingDevice = Annotated[Device, Depends(uploading_device)]
