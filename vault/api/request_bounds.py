"""Bounds every request before a route sees it: the number of headers, and the size of the
body, declared or streamed (a segment upload may be large, everything else is a small JSON
body). A refusal here costs the vault the headers only."""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from protocol.api.errors import ErrorBody
from vault.errors import TooLarge


async def _refuse(send: Send, status: int, code: str, message: str) -> None:
    body = ErrorBody(error=code, message=message).model_dump_json().encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                # The body, if any, is not read: the connection cannot carry another request.
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RequestBounds:
    def __init__(
        self, app: ASGIApp, *, max_header_count: int, body_limit_for: Callable[[str], int]
    ) -> None:
        self.app = app
        self.max_header_count = max_header_count
        self.body_limit_for = body_limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        if len(headers) > self.max_header_count:
            await _refuse(
                send,
                431,
                "too-many-headers",
                f"the request has {len(headers)} headers; the vault takes at most"
                f" {self.max_header_count}",
            )
            return
        limit = self.body_limit_for(scope["path"])
        declared = [value for name, value in headers if name == b"content-length"]
        if declared:
            if len(declared) > 1 or not declared[0].isdigit() or len(declared[0]) > 18:
                await _refuse(send, 400, "bad-content-length", "Content-Length is not one number")
                return
            if int(declared[0]) > limit:
                await _refuse(
                    send,
                    413,
                    "too-large",
                    f"request body of {int(declared[0])} bytes exceeds {limit} for this route",
                )
                return
        await self.app(scope, _bounded(receive, limit), send)


def _bounded(receive: Receive, limit: int) -> Receive:
    received = 0

    async def bounded_receive() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                # Raised where the route reads its body, so the route's error shape answers.
                raise TooLarge(f"request body exceeds {limit} bytes for this route")
        return message

    return bounded_receive
