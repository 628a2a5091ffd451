"""Off-hook from baresip's ctrl_tcp events (netstring-framed JSON).

baresip sends {"event":true,"type":"CALL_ESTABLISHED","id":"<call id>",...} when a call is
answered and CALL_CLOSED when it ends; other events (CALL_INCOMING, CALL_RTPESTAB, SDP and
registration events) and command responses are ignored. If the socket drops while a call is
up, baresip probably crashed: the call is reported over. Malformed input is logged and the
connection is reopened, since the stream cannot be resynchronised.

Whatever listens on the port is heard only if it is the softphone run by this user
(agent/detect/trusted_process.py): with baresip down, any local user could bind the port and
announce a call. Anything else is refused, reported once, and tried again later.
"""

from __future__ import annotations

import json
import logging
import socket

from agent.detect.base import CallSignal, Emit, ThreadedDetector, UntrustedSource
from agent.detect.names import DetectorName
from agent.detect.netstring import NetstringDecoder, NetstringError
from agent.detect.trusted_process import Softphone, tcp_peer_pid

log = logging.getLogger(__name__)

RECONNECT_INITIAL = 0.1
RECONNECT_MAX = 2.0
READ_TIMEOUT = 0.2
"""How long a read blocks before the thread checks whether it should stop."""
CONNECT_TIMEOUT = 1.0
MAX_EVENT_BYTES = 64 * 1024


class BaresipDetector(ThreadedDetector):
    name = DetectorName.BARESIP

    def __init__(self, host: str, port: int, softphone: Softphone) -> None:
        super().__init__()
        self._address = (host, port)
        self._softphone = softphone
        self._calls: set[str] = set()
        self._refused = ""
        """The last refusal reported, so a retry every few seconds does not repeat it."""

    def _run(self, emit: Emit) -> None:
        backoff = RECONNECT_INITIAL
        warned = False
        while not self._stopping.is_set():
            try:
                with socket.create_connection(self._address, timeout=CONNECT_TIMEOUT) as sock:
                    if self._trusted(sock, emit):
                        log.info("baresip detector: connected to %s:%d", *self._address)
                        backoff, warned = RECONNECT_INITIAL, False
                        self._read(sock, emit)
            except NetstringError as exc:
                log.warning("baresip detector: malformed data from baresip, reconnecting: %s", exc)
            except OSError as exc:
                if not warned:
                    log.warning("baresip detector: ctrl_tcp unavailable: %s", exc)
                    warned = True
            if not self._stopping.is_set():
                for call_id in sorted(self._calls):
                    emit(CallSignal(False, call_id, self.name, "baresip connection lost"))
            self._calls = set()
            if self._stopping.wait(backoff):
                return
            backoff = min(backoff * 2, RECONNECT_MAX)

    def _trusted(self, sock: socket.socket, emit: Emit) -> bool:
        refusal = self._softphone.refusal(tcp_peer_pid(sock))
        if refusal is None:
            self._refused = ""
            return True
        if refusal != self._refused:
            self._refused = refusal
            problem = (
                f"not listening to {self._address[0]}:{self._address[1]}: {refusal}. Calls are"
                " not recorded until the softphone itself listens there (start it, or ask IT"
                " to check baresip_ctrl_address)"
            )
            log.warning("baresip detector: %s", problem)
            emit(UntrustedSource(self.name, problem))
        return False

    def _read(self, sock: socket.socket, emit: Emit) -> None:
        sock.settimeout(READ_TIMEOUT)
        decoder = NetstringDecoder(MAX_EVENT_BYTES)
        while not self._stopping.is_set():
            try:
                data = sock.recv(65536)
            except TimeoutError:
                continue
            if not data:
                raise ConnectionResetError("baresip closed the ctrl_tcp connection")
            for payload in decoder.feed(data):
                self._handle(payload, emit)

    def _handle(self, payload: bytes, emit: Emit) -> None:
        try:
            message = json.loads(payload)
        except ValueError as exc:
            raise NetstringError(f"event is not JSON: {exc}: {payload[:200]!r}") from exc
        if not isinstance(message, dict) or message.get("event") is not True:
            return
        kind = message.get("type")
        call_id = message.get("id")
        if kind not in ("CALL_ESTABLISHED", "CALL_CLOSED"):
            return
        if not isinstance(call_id, str) or not call_id:
            log.warning("baresip detector: %s without a call id: %.200r", kind, message)
            return
        if kind == "CALL_ESTABLISHED":
            if call_id not in self._calls:
                self._calls.add(call_id)
                emit(CallSignal(True, call_id, self.name, kind))
        elif call_id in self._calls:
            self._calls.discard(call_id)
            param = message.get("param")
            reason = f"{kind}: {param}" if isinstance(param, str) and param else kind
            emit(CallSignal(False, call_id, self.name, reason))
