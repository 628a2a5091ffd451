"""Off-hook from the softphone's own hook command (`callreel-agent hook off|on`).

Softphones such as MicroSIP run a command when a call starts and ends; the command sends
{"command": "hook", "state": "off"|"on", "call_id": ..., "softphone_pid": ...} over the
control channel and the agent core passes it to `HookDetector.handle_request`. A softphone
that crashes never runs its on-hook command, so while a call is up the detector watches the
softphone's process and reports on-hook when it exits.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psutil

from agent.detect.base import CallDetector, CallSignal, Emit
from agent.detect.names import DetectorName

log = logging.getLogger(__name__)

POLL_SECONDS = 0.25
MAX_CALL_ID_LENGTH = 256


def _error(text: str) -> dict[str, object]:
    return {"ok": False, "error": text}


class HookDetector(CallDetector):
    name = DetectorName.HOOK

    def __init__(self) -> None:
        self._emit: Emit | None = None
        self._lock = threading.Lock()
        self._watch: _ProcessWatch | None = None

    def start(self, emit: Emit) -> None:
        self._emit = emit

    def stop(self) -> None:
        with self._lock:
            watch, self._watch = self._watch, None
            self._emit = None
        if watch is not None:
            watch.cancel()

    def handle_request(self, request: dict[str, object]) -> dict[str, object]:
        """Validate a hook request from the control channel, emit it, and answer."""
        state = request.get("state")
        if state not in ("off", "on"):
            return _error("'state' must be 'off' or 'on'")
        call_id = request.get("call_id")
        if call_id is not None and (
            not isinstance(call_id, str) or not 0 < len(call_id) <= MAX_CALL_ID_LENGTH
        ):
            return _error(f"'call_id' must be null or a string of 1 to {MAX_CALL_ID_LENGTH} chars")
        pid = request.get("softphone_pid")
        # bool is an int subclass; `true` is not a process id.
        if pid is not None and (not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0):
            return _error("'softphone_pid' must be null or a positive integer")
        with self._lock:
            emit = self._emit
            if emit is None:
                return _error("hook detector is not running")
            previous, self._watch = self._watch, None
            if state == "off" and pid is not None:
                try:
                    self._watch = _ProcessWatch(pid, call_id, self._softphone_exited)
                except psutil.Error:
                    # Gone before we could look: the call it announces cannot be live.
                    return _error(f"softphone process {pid} is not running")
        if previous is not None:
            previous.cancel()
        off_hook = state == "off"
        emit(CallSignal(off_hook, call_id, self.name, f"hook command {state}-hook"))
        return {"ok": True}

    def _softphone_exited(self, watch: _ProcessWatch) -> None:
        with self._lock:
            if self._watch is not watch or self._emit is None:
                return
            self._watch = None
            emit = self._emit
        log.info("softphone process %d exited during call %s", watch.pid, watch.call_id)
        emit(CallSignal(False, watch.call_id, self.name, "softphone exited"))


class _ProcessWatch:
    """Calls `on_exit(self)` once the process exits, unless cancelled first."""

    def __init__(
        self, pid: int, call_id: str | None, on_exit: Callable[[_ProcessWatch], None]
    ) -> None:
        self.pid = pid
        self.call_id = call_id
        # psutil.Process remembers the start time, so a recycled pid is not mistaken for it.
        self._process = psutil.Process(pid)
        self._on_exit = on_exit
        self._cancelled = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"hook-watch-{pid}", daemon=True)
        self._thread.start()

    def cancel(self) -> None:
        self._cancelled.set()

    def _run(self) -> None:
        while not self._cancelled.wait(POLL_SECONDS):
            if not self._alive():
                if not self._cancelled.is_set():
                    self._on_exit(self)
                return

    def _alive(self) -> bool:
        try:
            # A zombie has exited; only its parent has not reaped it yet.
            return self._process.is_running() and self._process.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False
        except psutil.Error:
            return True
