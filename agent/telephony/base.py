"""Off-hook detection: several detectors behind one interface; policy picks which run.

A detector watches one sign of a live call (a hook command from the softphone, its audio
recording stream, its event socket, the Windows microphone-in-use state) and reports each
change as a `CallSignal`. Detectors run their own threads and call `emit` from them; `emit`
only enqueues. A detector that loses sight of a call it reported (stream gone, socket closed,
softphone process exited) reports on-hook: a crashed softphone ends the recording.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CallSignal:
    off_hook: bool
    call_id: str | None
    detector: str
    """Which detector saw it ('hook', 'pulse', 'baresip', 'windows-mic')."""
    reason: str = ""
    """Why, for the log: 'CALL_ESTABLISHED', 'recording stream 12 closed', 'softphone exited'."""


Emit = Callable[[CallSignal], None]


class CallDetector(abc.ABC):
    name: str

    @abc.abstractmethod
    def start(self, emit: Emit) -> None:
        """Begin watching; return at once. Opens OS handles here, never at import."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop watching and release handles; idempotent; returns within a second."""
