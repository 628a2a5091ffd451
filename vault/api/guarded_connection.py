"""uvicorn's h11 connection, with deadlines for clients that send slowly.

uvicorn bounds the time between requests (keep-alive) but not the time a client takes to send
one: a connection that trickles its headers, or a body at a byte a second, is held for ever.
Here the headers must arrive within `header_timeout_s`, and a body must keep an average of
`min_body_rate` once `body_grace_s` has passed (time the vault itself stopped reading, when
the application is behind, is not counted against the client). h11 rather than httptools,
because h11 bounds the header block (`max_header_bytes`); httptools accepts any size.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from vault.api.serving_limits import ServingLimits

log = logging.getLogger("callreel.vault")

_TICK_S = 1.0
LINGER_BYTES = 1024 * 1024
LINGER_S = 2.0
"""After refusing a request whose body is still coming: how much more, and how long, is taken
in (and thrown away) so the client can finish writing and read the answer."""


class GuardedH11Protocol(H11Protocol):
    limits = ServingLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_deadline: asyncio.TimerHandle | None = None
        self._body_check: asyncio.TimerHandle | None = None
        self._body_since = 0.0
        self._body_bytes = 0
        self._lingered: int | None = None
        """Bytes of a refused request's body taken in since its answer; None: not lingering."""
        self._linger_end: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        if self._linger_end is not None:
            self._linger_end.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._lingered is not None:
            self._linger(data)
            return
        receiving_body = self.conn.their_state is h11.SEND_BODY
        super().data_received(data)
        if receiving_body:
            self._body_bytes += len(data)
        self._follow_state()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.conn.their_state is h11.SEND_BODY and not self.transport.is_closing():
            # Answered before the body was read (a refusal). A client that writes its whole
            # body before reading sees the answer only if the rest is taken in, and every byte
            # taken in is decrypted: so a little is (a segment's worth, for a few seconds),
            # then the connection is cut.
            self._cancel_timers()
            self._lingered = 0
            self._linger_end = self.loop.call_later(LINGER_S, self._stop_lingering)
            return
        self._follow_state()

    def _linger(self, data: bytes) -> None:
        self._lingered = (self._lingered or 0) + len(data)
        if self._lingered > LINGER_BYTES:
            # Held without reading (nothing more is decrypted, the kernel's buffers fill)
            # until LINGER_S is up: a client that never stops writing waits instead of
            # starting over at once with a new handshake.
            self.transport.pause_reading()
            return
        super().data_received(data)  # h11 tracks the body's end; its bytes are dropped
        if self.conn.their_state is not h11.SEND_BODY and not self.transport.is_closing():
            if self._linger_end is not None:
                self._linger_end.cancel()
            self._lingered = self._linger_end = None
            self.transport.close()  # the client wrote it all and can read the answer

    def _stop_lingering(self) -> None:
        if self._linger_end is not None:
            self._linger_end.cancel()
        self._lingered = self._linger_end = None
        if not self.transport.is_closing():
            self.transport.abort()

    def _follow_state(self) -> None:
        state = self.conn.their_state
        if state is h11.IDLE and self.conn.trailing_data[0]:
            self._arm_header_deadline()  # part of the next request is here: its clock runs
            return
        if self._header_deadline is not None and state is not h11.IDLE:
            self._header_deadline.cancel()
            self._header_deadline = None
        if state is h11.SEND_BODY and self._body_check is None:
            self._body_since, self._body_bytes = time.monotonic(), 0
            self._body_check = self.loop.call_later(_TICK_S, self._check_body_rate)

    def _arm_header_deadline(self) -> None:
        if self._header_deadline is None:
            self._header_deadline = self.loop.call_later(
                self.limits.header_timeout_s, self._headers_too_slow
            )

    def _cancel_timers(self) -> None:
        for timer in (self._header_deadline, self._body_check):
            if timer is not None:
                timer.cancel()
        self._header_deadline = self._body_check = None

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self._drop(f"sent no complete request headers in {self.limits.header_timeout_s} s")

    def _check_body_rate(self) -> None:
        self._body_check = None
        if self.conn.their_state is not h11.SEND_BODY or self.transport.is_closing():
            return
        now = time.monotonic()
        if self.flow.read_paused:
            # The vault stopped reading: the client cannot be behind; measure afresh after.
            self._body_since, self._body_bytes = now, 0
        else:
            limits = self.limits
            owed = (now - self._body_since - limits.body_grace_s) * limits.min_body_rate
            if self._body_bytes < owed:
                self._drop(
                    f"sent its body at {self._body_bytes / (now - self._body_since):.0f} B/s,"
                    f" below --min-body-rate {limits.min_body_rate} B/s"
                )
                return
        self._body_check = self.loop.call_later(_TICK_S, self._check_body_rate)

    def _drop(self, why: str) -> None:
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        log.warning("closed the connection from %s: it %s", client, why)
        if self.cycle is not None:
            # The application, if it is reading, sees a disconnect rather than a late body.
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        if self.conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            self._send_timeout_response(why)
        self._cancel_timers()
        self.transport.close()

    def _send_timeout_response(self, why: str) -> None:
        body = f'{{"error":"request-timeout","message":"the client {why}"}}'.encode()
        try:
            output = self.conn.send(
                h11.Response(
                    status_code=408,
                    headers=[
                        ("content-type", "application/json"),
                        ("content-length", str(len(body))),
                        ("connection", "close"),
                    ],
                )
            )
            output += self.conn.send(h11.Data(data=body)) or b""
            output += self.conn.send(h11.EndOfMessage()) or b""
        except h11.LocalProtocolError:
            return  # a response had begun; closing says the rest
        self.transport.write(output or b"")


def guarded_protocol(limits: ServingLimits) -> type[GuardedH11Protocol]:
    """The connection class for one vault's limits (uvicorn makes one per connection)."""
    return type("VaultConnection", (GuardedH11Protocol,), {"limits": limits})


def uvicorn_config(
    app: Any,
    limits: ServingLimits,
    *,
    host: str,
    port: int,
    cert_path: Path,
    key_path: Path,
    log_level: str = "info",
) -> uvicorn.Config:
    """How every vault is served, by `callreel-vault serve` and by the tests alike."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        ssl_certfile=str(cert_path),
        ssl_keyfile=str(key_path),
        http=guarded_protocol(limits),
        h11_max_incomplete_event_size=limits.max_header_bytes,
        limit_concurrency=limits.max_connections,
        timeout_keep_alive=limits.keep_alive_s,
        log_level=log_level,
        access_log=False,
        server_header=False,
    )
