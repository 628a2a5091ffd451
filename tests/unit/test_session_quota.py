"""A session of N calls records N calls, wherever the vault's polls fall (R1).

The real state machine and session tracker, with the spool and the vault reduced to what the
quota reads of them: the spool holds a recording from the moment its capture starts until the
uploader registers it, and the vault counts it from then on. Polls land before, inside and
after recordings, and registrations lag by any number of calls.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.core.vault_sessions import SessionTracker
from agent.session.machine import RecordingStateMachine
from agent.session.vocabulary import (
    CallPolicy,
    CaptureStopped,
    Command,
    DestroyRecording,
    Event,
    NoticeElapsed,
    OffHook,
    OnHook,
    StartCapture,
    State,
)
from protocol.api.agent import TrainingSessionView
from protocol.api.vocabulary import Purpose
from tests.helpers.recording_ids import rec

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
SESSION_ID = uuid.UUID(int=7)


@dataclass
class World:
    calls_allowed: int
    machine: RecordingStateMachine = field(init=False)
    tracker: SessionTracker = field(default_factory=SessionTracker)
    in_spool: list[uuid.UUID] = field(default_factory=list)
    """Recordings of the session kept here and not yet registered, oldest first."""
    registered: int = 0
    captured: list[uuid.UUID] = field(default_factory=list)

    def __post_init__(self) -> None:
        ids = (rec(n) for n in itertools.count(1))
        self.machine = RecordingStateMachine(
            CallPolicy(notice_lead_time_s=0.0), NOW.timestamp, lambda: next(ids)
        )

    def feed(self, event: Event) -> None:
        for command in self.machine.handle(event):
            self._carry_out(command)

    def _carry_out(self, command: Command) -> None:
        match command:
            case StartCapture(recording_id=rid):
                self.captured.append(rid)
                self.in_spool.append(rid)
            case DestroyRecording(recording_id=rid):
                self.in_spool.remove(rid)
            case _:
                pass

    def poll(self) -> None:
        view = TrainingSessionView(
            id=SESSION_ID, trainer="tess", agent="ana", team=None, purpose=Purpose.TRAINING,
            calls_allowed=self.calls_allowed, calls_left=self.calls_allowed - self.registered,
            notice_text="Calls are recorded for training.", created_at=NOW,
            expires_at=NOW + timedelta(hours=1), ended_at=None,
            active=self.registered < self.calls_allowed, keep_days=30, delete_days=60,
        )  # fmt: skip
        unregistered = {str(SESSION_ID): len(self.in_spool)} if self.in_spool else {}
        self.tracker.apply([view], self.machine, unregistered, self.feed)

    def register_oldest(self) -> None:
        if self.in_spool:
            self.in_spool.pop(0)
            self.registered += 1

    def call(self, polls_inside: int, polls_after: int) -> None:
        self.feed(OffHook("call"))
        recording_id = self.machine.recording_id
        if recording_id is not None:
            self.feed(NoticeElapsed(recording_id))
        for _ in range(polls_inside):
            self.poll()
        self.feed(OnHook("call"))
        if recording_id is not None and self.machine.state is State.FINISHING:
            self.feed(CaptureStopped(recording_id))
        for _ in range(polls_after):
            self.poll()


def test_a_poll_inside_the_last_call_does_not_cost_it() -> None:
    world = World(calls_allowed=2)
    world.poll()
    world.call(polls_inside=1, polls_after=0)
    world.call(polls_inside=1, polls_after=0)
    assert len(world.captured) == 2
    world.call(polls_inside=1, polls_after=1)
    assert len(world.captured) == 2
    assert world.machine.state is State.NO_SESSION


@settings(max_examples=300, deadline=None)
@given(
    calls_allowed=st.integers(1, 4),
    script=st.lists(
        st.tuples(st.integers(0, 2), st.integers(0, 2), st.integers(0, 2)), min_size=6, max_size=8
    ),
)
def test_every_allowed_call_is_recorded_and_no_more(
    calls_allowed: int, script: list[tuple[int, int, int]]
) -> None:
    world = World(calls_allowed)
    world.poll()
    for polls_inside, polls_after, registrations in script:
        world.call(polls_inside, polls_after)
        for _ in range(registrations):
            world.register_oldest()
            world.poll()
    assert len(world.captured) == calls_allowed
