"""Off-hook detection: several detectors behind one interface; policy picks which run.

A detector watches one sign of a live call (a hook command from the softphone, its audio
recording stream, its event socket, the Windows microphone-in-use state) and reports each
change as a `CallSignal`. Detectors run their own threads and call `emit` from them; `emit`
only enqueues. A detector that loses sight of a call it reported (stream gone, socket closed,
softphone process exited) reports on-hook: a crashed softphone ends the recording.
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Callable
from dataclasses import dataclass

from agent.detect.names import DetectorName


@dataclass(frozen=True, slots=True)
class CallSignal:
    off_hook: bool
    call_id: str | None
    detector: str
    """Which detector saw it ('hook', 'pulse', 'baresip', 'windows-mic')."""
    reason: str = ""
    """Why, for the log: 'CALL_ESTABLISHED', 'recording stream 12 closed', 'softphone exited'."""


@dataclass(frozen=True, slots=True)
class UntrustedSource:
    """A detector heard something it will not take as a call: not the softphone, or not
    this user's (agent/detect/trusted_process.py). Shown to the agent as a problem."""

    detector: str
    problem: str


Emit = Callable[[CallSignal | UntrustedSource], None]


class CallDetector(abc.ABC):
    name: DetectorName

    @abc.abstractmethod
    def start(self, emit: Emit) -> None:
        """Begin watching; return at once. Opens OS handles here, never at import."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop watching and release handles; idempotent; returns within a second."""


class ThreadedDetector(CallDetector):
    """A detector that watches from one thread of its own until stopped."""

    def __init__(self) -> None:
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, emit: Emit) -> None:
        if self._thread is not None:
            raise RuntimeError(f"{self.name} detector already started")
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._run, args=(emit,), name=f"{self.name}-detector", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stopping.set()
        thread.join(timeout=1.0)

    @abc.abstractmethod
    def _run(self, emit: Emit) -> None:
        """Watch until `self._stopping` is set; `emit` each change."""
