"""Training sessions from the vault: waiting for them to change, and turning what the vault says
into the machine's session events, with the quota the machine may still use (R1)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from agent.session.machine import RecordingStateMachine
from agent.session.vocabulary import (
    Event,
    QuotaUsedUp,
    SessionEnded,
    SessionStarted,
    TrainingSession,
)
from agent.vault_connection.client import SessionsAnswer
from protocol.api.agent import AccessRecord, TrainingSessionView

log = logging.getLogger(__name__)

WAIT_S = 25.0
"""How long one request waits at the vault for a change (the vault allows up to 30 s)."""


class VaultSessions(Protocol):
    def sessions(self) -> list[TrainingSessionView]: ...

    def sessions_changed(self, known: str | None, wait_s: float) -> SessionsAnswer: ...

    def access_history(self) -> list[AccessRecord]: ...

    def console_sign_in_url(self) -> str: ...


def training_session_from_vault(entry: TrainingSessionView, quota: int) -> TrainingSession | None:
    """A vault session as the machine's TrainingSession, or None if it records no more calls."""
    if quota < 1:
        return None
    return TrainingSession(
        session_id=str(entry.id),
        purpose=entry.purpose.value,
        trainer=entry.trainer,
        quota=quota,
        expires_at=entry.expires_at.timestamp(),
        notice_text=entry.notice_text,
    )


def quota_for_machine(
    machine: RecordingStateMachine, session_id: str, entry: TrainingSessionView, unregistered: int
) -> int:
    """Calls the machine may still count for this session, from its own count up.

    The vault counts a call when its recording is registered, which the uploader does after
    the call; calls kept here but not yet registered are counted from the spool, which holds a
    recording from the moment its capture starts. What the machine used itself, including the
    call being captured now, is in those counts too, so it is added back: the machine compares
    its own count with the quota.
    """
    used_elsewhere = entry.calls_allowed - entry.calls_left + unregistered
    return entry.calls_allowed - (used_elsewhere - machine.calls_used(session_id))


class SessionTracker:
    """What the machine has been told about each vault session, so that each poll feeds it
    only what changed."""

    def __init__(self) -> None:
        self.current: dict[str, TrainingSessionView] = {}
        """The active sessions of the last poll, by id (the notice shows their retention)."""
        self._delivered: dict[str, TrainingSession] = {}

    def apply(
        self,
        polled: list[TrainingSessionView],
        machine: RecordingStateMachine,
        unregistered_by_session: dict[str, int],
        feed: Callable[[Event], None],
    ) -> None:
        """Feed the machine the events this poll implies, one at a time: each may change the
        machine's session and its count, which the next one's quota depends on."""
        current = {str(entry.id): entry for entry in polled if entry.active}
        self.current = current
        for session_id, entry in current.items():
            quota = quota_for_machine(
                machine, session_id, entry, unregistered_by_session.get(session_id, 0)
            )
            session = training_session_from_vault(entry, quota)
            machine_session = machine.session
            if session is None:
                if machine_session is not None and machine_session.session_id == session_id:
                    log.info(
                        "training session %s: all %d calls used (%d counted by the vault, %d"
                        " waiting to upload); no further call is recorded",
                        session_id,
                        entry.calls_allowed,
                        entry.calls_allowed - entry.calls_left,
                        unregistered_by_session.get(session_id, 0),
                    )
                    feed(QuotaUsedUp(session_id))
                continue
            if self._delivered.get(session_id) == session:
                continue
            self._delivered[session_id] = session
            feed(SessionStarted(session))
        for session_id in list(self._delivered):
            if session_id not in current:
                del self._delivered[session_id]
                feed(SessionEnded(session_id))


class SessionPoller:
    """Keeps the core told of this agent's sessions: each request waits at the vault until a
    trainer changes them (a long poll, so a change arrives within a second or two), and the
    next goes out as soon as it returns. Where the vault cannot wait (older, or too busy) or
    cannot be reached, it asks every `interval_s` instead, or at once when asked to."""

    def __init__(
        self,
        vault: VaultSessions,
        on_sessions: Callable[[list[TrainingSessionView]], None],
        interval_s: float,
        *,
        wait_s: float = WAIT_S,
    ) -> None:
        self._vault = vault
        self._on_sessions = on_sessions
        self._interval_s = interval_s
        self._wait_s = wait_s
        self._stopping = threading.Event()
        self._poll_now = threading.Event()
        self._thread = threading.Thread(target=self._run, name="callreel-sessions", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def poll_now(self) -> None:
        self._poll_now.set()

    def stop(self, timeout: float) -> None:
        self._stopping.set()
        self._poll_now.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        known: str | None = None
        while not self._stopping.is_set():
            began = time.monotonic()
            waited = False
            try:
                answer = self._vault.sessions_changed(known, self._wait_s)
                if answer.sessions is not None:
                    self._on_sessions(answer.sessions)
                # A change comes back at once; an unchanged answer, only after the wait.
                waited = (
                    self._wait_s > 0
                    and answer.etag is not None
                    and (
                        answer.sessions is not None or time.monotonic() - began >= self._wait_s / 2
                    )
                )
                known = answer.etag
            except Exception as exc:  # noqa: BLE001 - shown; the last known sessions stand
                log.warning("could not fetch training sessions: %s", exc)
            if not waited:
                self._poll_now.wait(self._interval_s)
                self._poll_now.clear()
