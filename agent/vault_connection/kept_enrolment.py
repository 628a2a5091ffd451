"""The enrolment as the vault's heartbeats change it (its recipient key, its TLS keys): one
copy and one lock, saved whole, so that one follower's change never undoes another's."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from agent.vault_connection.enrolment import Enrolment


class KeptEnrolment:
    def __init__(self, enrolment: Enrolment, enrolment_file: Path | None) -> None:
        """`enrolment_file` None: changes are not saved (the embedded local vault's)."""
        self._enrolment = enrolment
        self._file = enrolment_file
        self._lock = threading.Lock()

    @property
    def current(self) -> Enrolment:
        with self._lock:
            return self._enrolment

    def change(self, update: Callable[[Enrolment], Enrolment]) -> tuple[Enrolment, Enrolment]:
        """(before, after) `update`; saved when they differ."""
        with self._lock:
            before = self._enrolment
            after = update(before)
            if after != before:
                if self._file is not None:
                    after.save(self._file)
                self._enrolment = after
            return before, after
