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
        has_body = bool(declared and declared[0] != b"0") or any(
            name == b"transfer-encoding" for name, _ in headers
        )
        body = _BoundedBody(receive, limit, done=not has_body)
        await self.app(scope, body.receive, body.closing_if_unread(send))


class _BoundedBody:
    def __init__(self, receive: Receive, limit: int, *, done: bool) -> None:
        self._receive = receive
        self._limit = limit
        self._received = 0
        self._done = done

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self._received += len(message.get("body", b""))
            if self._received > self._limit:
                # Raised where the route reads its body, so the route's error shape answers.
                raise TooLarge(f"request body exceeds {self._limit} bytes for this route")
            self._done = not message.get("more_body", False)
        return message

    def closing_if_unread(self, send: Send) -> Send:
        """An answer given before the body was read (a refusal) ends the connection (the
        server drops the rest, docs/vault.md): it says so, so that a client does not send its
        next request on a connection about to close."""

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start" and not self._done:
                message = {**message, "headers": [*message.get("headers", []), _CLOSE]}
            await send(message)

        return sending


_CLOSE = (b"connection", b"close")
