"""Off-hook from the softphone's recording stream on PulseAudio (or PipeWire's pulse server).

A softphone records the microphone only while a call is up; while it rings it only plays
(baresip: a playback stream for the ring tone, then playback + recording once answered). So a
source-output whose `application.process.binary` is the softphone's executable is a live
call, and its disappearance ends it.

The server is polled every 100 ms: one round trip on a local socket, simpler and easier to
stop than pulsectl's event loop (whose callbacks may not call back into the server). If the
server goes away, calls it carried are over (their streams went with it), and the detector
reconnects with backoff.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import PurePath
from typing import Any

from agent.detect.base import CallSignal, Emit, ThreadedDetector
from agent.detect.names import DetectorName

log = logging.getLogger(__name__)

POLL_SECONDS = 0.1
RECONNECT_INITIAL = 0.2
RECONNECT_MAX = 5.0
CONNECT_TIMEOUT = 1.0


class PulseStreamDetector(ThreadedDetector):
    name = DetectorName.PULSE

    def __init__(self, executable: str, server: str | None = None) -> None:
        super().__init__()
        """`executable`: the softphone's binary (basename or path); `server`: a libpulse
        server string such as `unix:/run/user/1000/pulse/native` (default: libpulse's own)."""
        self._binary = PurePath(executable).name
        self._server = server
        self._streams: set[int] = set()

    def _run(self, emit: Emit) -> None:
        # Loaded here, in the detector's thread: pulsectl loads libpulse when imported, which
        # a detector that is only built (or configured away) must not do.
        pulsectl: Any = importlib.import_module("pulsectl")
        backoff = RECONNECT_INITIAL
        warned = False
        while not self._stopping.is_set():
            try:
                with pulsectl.Pulse("callreel-agent", server=self._server, connect=False) as pulse:
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
            current = {
                stream.index
                for stream in pulse.source_output_list()
                if stream.proplist.get("application.process.binary") == self._binary
            }
            for index in sorted(current - self._streams):
                emit(CallSignal(True, f"pulse-{index}", self.name, f"recording stream {index}"))
            for index in sorted(self._streams - current):
                reason = f"recording stream {index} closed"
                emit(CallSignal(False, f"pulse-{index}", self.name, reason))
            self._streams = current
            if self._stopping.wait(POLL_SECONDS):
                return

    def _forget_all(self, emit: Emit, reason: str) -> None:
        if self._stopping.is_set():
            return
        for index in sorted(self._streams):
            emit(CallSignal(False, f"pulse-{index}", self.name, reason))
        self._streams = set()
