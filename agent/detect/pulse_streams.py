"""Off-hook from the softphone's recording stream on PulseAudio (or PipeWire's pulse server).

A softphone records the microphone only while a call is up; while it rings it only plays
(baresip: a playback stream for the ring tone, then playback + recording once answered). So a
source-output of the softphone is a live call, and its disappearance ends it.

"Of the softphone" is decided by agent/detect/trusted_process.py from the stream's client
process, never from the names a client sets about itself (`application.process.binary` is
whatever the client says). The PID is the one the server took from the socket's credentials
where it gives one (PipeWire's `pipewire.sec.pid`, on native PipeWire clients; pipewire-pulse
labels every libpulse client with its own pid there). PulseAudio, and pipewire-pulse for
libpulse clients, keep only the client's own `application.process.id`, which is then held to
the same test: a running process of this
user started from the softphone's executable. A per-user PulseAudio accepts only this user's
clients (its socket is in the user's private runtime directory), so another user cannot
present such a stream there at all. Streams are judged by their client, not by the stream's
own properties: a native PipeWire client names its program on the client object only.

The server is polled every 100 ms: one round trip on a local socket, simpler and easier to
stop than pulsectl's event loop (whose callbacks may not call back into the server). If the
server goes away, calls it carried are over (their streams went with it), and the detector
reconnects with backoff.
"""

from __future__ import annotations

import importlib
import logging
import os
from typing import Any

from agent.detect.base import CallSignal, Emit, ThreadedDetector, UntrustedSource
from agent.detect.names import DetectorName
from agent.detect.trusted_process import Softphone

log = logging.getLogger(__name__)

POLL_SECONDS = 0.1
RECONNECT_INITIAL = 0.2
RECONNECT_MAX = 5.0
CONNECT_TIMEOUT = 1.0
VERIFIED_PID = "pipewire.sec.pid"
"""Set by the server from SO_PEERCRED (PipeWire and pipewire-pulse); clients cannot set it."""
CLAIMED_PID = "application.process.id"
CLAIMED_BINARY = "application.process.binary"
CLIENT_NAME = "callreel-agent"


def client_pid(client_properties: dict[str, str], server_pid: int | None) -> int | None:
    """The client's process id: the one the server verified where it has it, else the one
    the client claims. pipewire-pulse puts its own pid in `pipewire.sec.pid` of every libpulse
    client (it is their PipeWire client), so that one says nothing about the client."""
    verified = client_properties.get(VERIFIED_PID, "")
    if verified.isdigit() and int(verified) != server_pid:
        return int(verified)
    claimed = client_properties.get(CLAIMED_PID, "")
    return int(claimed) if claimed.isdigit() else None


def server_pid_of(clients: dict[int, dict[str, str]], own_pid: int) -> int | None:
    """The pulse server's own pid, from how it labels this process's connection: a
    `pipewire.sec.pid` on our own client that is not ours is the server's (pipewire-pulse)."""
    for properties in clients.values():
        if (
            properties.get(CLAIMED_PID) == str(own_pid)
            and properties.get("application.name") == CLIENT_NAME
        ):
            verified = properties.get(VERIFIED_PID, "")
            if verified.isdigit() and int(verified) != own_pid:
                return int(verified)
    return None


class PulseStreamDetector(ThreadedDetector):
    name = DetectorName.PULSE

    def __init__(self, softphone: Softphone, server: str | None = None) -> None:
        """`server`: a libpulse server string such as `unix:/run/user/1000/pulse/native`
        (default: libpulse's own)."""
        super().__init__()
        self._softphone = softphone
        self._server = server
        self._streams: set[int] = set()
        self._verdicts: dict[tuple[int, int | None], str | None] = {}
        """(client index, pid) -> why it is not the softphone, or None: checked once each."""

    def _run(self, emit: Emit) -> None:
        # Loaded here, in the detector's thread: pulsectl loads libpulse when imported, which
        # a detector that is only built (or configured away) must not do.
        pulsectl: Any = importlib.import_module("pulsectl")
        backoff = RECONNECT_INITIAL
        warned = False
        while not self._stopping.is_set():
            try:
                with pulsectl.Pulse(CLIENT_NAME, server=self._server, connect=False) as pulse:
                    pulse.connect(autospawn=False, wait=False, timeout=CONNECT_TIMEOUT)
                    log.info("pulse detector: connected to %s", self._server or "default server")
                    backoff, warned = RECONNECT_INITIAL, False
                    self._watch(pulse, emit)
            except pulsectl.PulseError as exc:
                if not warned:
                    log.warning("pulse detector: audio server unavailable: %s", exc)
                    warned = True
            self._forget_all(emit, "audio server connection lost")
            if self._stopping.wait(backoff):
                return
            backoff = min(backoff * 2, RECONNECT_MAX)

    def _watch(self, pulse: Any, emit: Emit) -> None:
        while True:
            clients = {client.index: client.proplist for client in pulse.client_list()}
            server_pid = server_pid_of(clients, os.getpid())
            current = {
                stream.index
                for stream in pulse.source_output_list()
                if self._from_softphone(
                    stream.client, clients.get(stream.client, {}), server_pid, emit
                )
            }
            for index in sorted(current - self._streams):
                emit(CallSignal(True, f"pulse-{index}", self.name, f"recording stream {index}"))
            for index in sorted(self._streams - current):
                reason = f"recording stream {index} closed"
                emit(CallSignal(False, f"pulse-{index}", self.name, reason))
            self._streams = current
            self._verdicts = {key: v for key, v in self._verdicts.items() if key[0] in clients}
            if self._stopping.wait(POLL_SECONDS):
                return

    def _from_softphone(
        self, client: int, properties: dict[str, str], server_pid: int | None, emit: Emit
    ) -> bool:
        pid = client_pid(properties, server_pid)
        key = (client, pid)
        if key not in self._verdicts:
            refusal = self._softphone.refusal(pid)
            self._verdicts[key] = refusal
            # Other programs recording are none of our business; a client that claims to be
            # the softphone and is not is worth telling.
            if refusal is not None and properties.get(CLAIMED_BINARY) == self._softphone.name:
                problem = f"a recording stream that claims to be {self._softphone.name}: {refusal}"
                log.warning("pulse detector: %s", problem)
                emit(UntrustedSource(self.name, problem))
        return self._verdicts[key] is None

    def _forget_all(self, emit: Emit, reason: str) -> None:
        if self._stopping.is_set():
            return
        for index in sorted(self._streams):
            emit(CallSignal(False, f"pulse-{index}", self.name, reason))
        self._streams = set()
