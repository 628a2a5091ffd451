"""The uploader against a real vault over HTTPS: settled recordings arrive whole and are
acknowledged only after the vault has them; outages back off and recover; refusals keep the
segments; a revoked device stops; pacing stays under the limit (its arithmetic:
tests/unit/test_upload_pacing.py)."""

from __future__ import annotations

import itertools
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from agent.spool.spool import RecordingState, Spool, VaultState
from agent.upload.pacing import Backoff
from agent.upload.uploader import Uploader, UploadStatus
from agent.vault_connection.client import DeviceClient
from protocol.api.staff import DeviceHealth
from protocol.signing import DeviceKey
from tests.helpers.vault_harness import (
    SealedRecording,
    SettableClock,
    VaultUnderTest,
    running_vault,
    sealed_recording,
)
from vault import devices
from vault.db.tables import recordings, segments
from vault.roles import Role

LONG = 60.0  # generous deadline for the uploader thread; never a timing assertion


@pytest.fixture
def vault(tmp_path: Path) -> Iterator[VaultUnderTest]:
    with running_vault(tmp_path) as running:
        running.add_person("tina", Role.TRAINER)
        running.add_person("alice", Role.AGENT)
        yield running


@pytest.fixture
def device(vault: VaultUnderTest) -> DeviceClient:
    return vault.enrol_device("alice")


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Spool]:
    with Spool(tmp_path / "spool", min_free_bytes=0) as opened:
        yield opened


class FakeTime:
    """The uploader's clock and wait: waits shorter than `real_below` pass at once on the
    fake clock (backoff, pacing); longer ones (idle until the next heartbeat) block briefly
    in real time without moving the clock, so the thread stays responsive and quiet."""

    def __init__(self, real_below: float = 1000.0) -> None:
        self.now = 10_000.0
        self.real_below = real_below
        self.waits: list[float] = []
        self.on_wait: Callable[[float], None] | None = None

    def clock(self) -> float:
        return self.now

    def wait(self, event: threading.Event, seconds: float) -> None:
        if seconds >= self.real_below:
            event.wait(0.05)
            return
        self.waits.append(seconds)
        if self.on_wait is not None:
            self.on_wait(seconds)
        self.now += seconds


def spool_recording(
    spool: Spool,
    vault: VaultUnderTest,
    session: uuid.UUID,
    *,
    state: RecordingState = RecordingState.COMPLETE,
    metadata: bool = True,
    started_offset: float = 0.0,
) -> SealedRecording:
    """A recording sealed by the real RecordingSealer to the vault's key, spooled as the
    pipeline spools it."""
    recording = sealed_recording(vault.ctx.identity.recipient)
    if not metadata:
        recording = SealedRecording(
            recording.recording_id, recording.segments[:-1], recording.sealer
        )
    started = vault.ctx.clock().timestamp() + started_offset
    spool.set_recording_session(recording.recording_id, str(session), started)
    for _sha, data in recording.segments:
        spool.put(data)
    if state is not RecordingState.RECORDING:
        spool.set_recording_state(recording.recording_id, state)
    return recording


def vault_state(spool: Spool, rid: uuid.UUID) -> VaultState | None:
    found = spool.recording(rid)
    return None if found is None else found.vault_state


def eventually(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + LONG
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def vault_recording(vault: VaultUnderTest, rid: uuid.UUID) -> tuple[str | None, list[str]]:
    """The vault's state for a recording and the SHA-256 of each stored segment, by index."""
    with vault.ctx.engine.connect() as connection:
        row = connection.execute(
            sa.select(recordings.c.state).where(recordings.c.id == rid)
        ).first()
        shas = connection.execute(
            sa.select(segments.c.sha256)
            .where(segments.c.recording_id == rid)
            .order_by(segments.c.segment_index)
        ).all()
    return (None if row is None else str(row.state)), [s.sha256 for s in shas]


def uploader(
    spool: Spool,
    device: DeviceClient,
    time_: FakeTime | None = None,
    *,
    rng: random.Random | None = None,
    limit_kbps: int = 0,
    on_change: Callable[[UploadStatus], None] | None = None,
) -> Uploader:
    """An uploader on fake time whose heartbeats (hourly) stay out of the way."""
    fake = time_ or FakeTime()
    return Uploader(
        spool,
        device,
        agent_version="test-1",
        clock=fake.clock,
        wait=fake.wait,
        heartbeat_s=3600.0,
        rng=rng,
        limit_kbps=limit_kbps,
        on_change=on_change,
    )


def test_a_settled_recording_is_registered_uploaded_acknowledged_and_ended(
    vault: VaultUnderTest, device: DeviceClient, spool: Spool
) -> None:
    session = vault.start_session("tina", "alice")
    recording = spool_recording(spool, vault, session)
    rid = recording.recording_id
    changes: list[UploadStatus] = []
    up = uploader(spool, device, on_change=changes.append)
    up.start()
    try:
        eventually(lambda: vault_state(spool, rid) is VaultState.ENDED, "the end")
        eventually(lambda: up.status().state == "idle", "idle")
    finally:
        assert up.stop()
    assert vault_recording(vault, rid) == ("complete", [sha for sha, _ in recording.segments])
    assert spool.pending() == []
    assert not list((spool.root / "segments").iterdir())
    final = up.status()
    assert final.uploaded_segments == 4
    assert final.state == "stopped"
    assert final.backlog_segments == 0
    assert "uploading" in {c.state for c in changes}
    assert changes[-2].note() == "all recordings uploaded"


def test_a_recording_in_progress_is_held_back_until_it_settles(
    vault: VaultUnderTest, device: DeviceClient, spool: Spool
) -> None:
    session = vault.start_session("tina", "alice")
    recording = spool_recording(spool, vault, session, state=RecordingState.RECORDING)
    rid = recording.recording_id
    changes: list[UploadStatus] = []
    up = uploader(spool, device, on_change=changes.append)
    up.start()
    try:
        # The first pass has run once it published the backlog it found.
        eventually(lambda: any(c.backlog_segments == 4 for c in changes), "the first pass")
        assert vault_recording(vault, rid) == (None, [])
        assert len(spool.pending_for(rid)) == 4
        assert "kept on this machine until their calls are settled" in up.status().note()
        spool.set_recording_state(rid, RecordingState.COMPLETE)
        up.wake()
        eventually(lambda: vault_recording(vault, rid)[0] == "complete", "the upload")
        eventually(lambda: vault_state(spool, rid) is VaultState.ENDED, "the end")
    finally:
        assert up.stop()
    assert vault_recording(vault, rid)[1] == [sha for sha, _ in recording.segments]


def test_an_interrupted_recording_ends_interrupted_at_the_vault(
    vault: VaultUnderTest, device: DeviceClient, tmp_path: Path
) -> None:
    session = vault.start_session("tina", "alice")
    root = tmp_path / "killed-spool"
    with Spool(root, min_free_bytes=0) as spool:
        recording = spool_recording(
            spool, vault, session, state=RecordingState.RECORDING, metadata=False
        )
    # The agent died mid-call: reopening the spool recovers the call as interrupted.
    with Spool(root, min_free_bytes=0) as spool:
        rid = recording.recording_id
        assert spool.recovery.interrupted_recordings == [rid]
        up = uploader(spool, device)
        up.start()
        try:
            eventually(lambda: vault_state(spool, rid) is VaultState.ENDED, "the end")
        finally:
            assert up.stop()
        assert spool.pending() == []
    state, shas = vault_recording(vault, rid)
    assert state == "interrupted"
    assert shas == [sha for sha, _ in recording.segments]


class OutageClient(DeviceClient):
    """The real client; the vault goes down right after the first segment is stored."""

    def __init__(self, base: DeviceClient, vault: VaultUnderTest) -> None:
        super().__init__(base._client, base.device_id, base._key, clock=base._clock)
        self.vault = vault
        self.stored = 0

    def upload_segment(self, sha256: str, sealed: bytes) -> bool:
        created = super().upload_segment(sha256, sealed)
        self.stored += 1
        if self.stored == 1:
            self.vault.stop_serving()
        return created


def test_an_outage_backs_off_acknowledges_nothing_and_recovers_whole(
    vault: VaultUnderTest, device: DeviceClient, spool: Spool
) -> None:
    session = vault.start_session("tina", "alice")
    recording = spool_recording(spool, vault, session)
    rid = recording.recording_id
    fake = FakeTime()
    seen: list[tuple[int, UploadStatus]] = []
    up = uploader(spool, OutageClient(device, vault), fake, rng=random.Random(7))

    def during_outage(_seconds: float) -> None:
        seen.append((spool.status().pending_segments, up.status()))
        if len(fake.waits) == 5:
            vault.resume_serving()

    fake.on_wait = during_outage
    up.start()
    try:
        eventually(lambda: vault_state(spool, rid) is VaultState.ENDED, "the end")
    finally:
        assert up.stop()
    # Five failed attempts, each waiting a jittered time within its doubling ceiling.
    expected = Backoff(rng=random.Random(7))
    assert fake.waits == pytest.approx([expected.next_delay() for _ in range(5)])
    for attempt, delay in enumerate(fake.waits):
        assert 0 <= delay <= min(300.0, 2.0**attempt)
    for pending, status in seen:
        assert pending == 3  # only the segment the vault confirmed left the spool
        assert status.state == "waiting"
        assert status.last_error is not None
        assert status.last_error.startswith("vault unreachable")
        assert status.retry_at is not None
        assert "3 segments" in status.note(now=status.retry_at - 12)
        assert "vault unreachable, retrying in 12 s" in status.note(now=status.retry_at - 12)
    assert vault_recording(vault, rid) == ("complete", [sha for sha, _ in recording.segments])
    assert spool.pending() == []
    assert up.status().last_error is None


def test_a_recording_beyond_the_quota_is_refused_kept_and_not_retried(
    vault: VaultUnderTest, device: DeviceClient, spool: Spool
) -> None:
    session = vault.start_session("tina", "alice", calls=1)
    first = spool_recording(spool, vault, session)
    second = spool_recording(spool, vault, session, started_offset=1.0)
    attempts: list[uuid.UUID] = []

    class Counting(DeviceClient):
        def register_recording(
            self, recording_id: uuid.UUID, session_id: uuid.UUID, started_at: datetime
        ) -> None:
            attempts.append(recording_id)
            super().register_recording(recording_id, session_id, started_at)

    counting = Counting(device._client, device.device_id, device._key, clock=device._clock)
    up = uploader(spool, counting)
    up.start()
    try:
        eventually(lambda: bool(up.status().refusals), "the refusal")
        eventually(lambda: up.status().state == "idle", "idle")
    finally:
        assert up.stop()
    refused = spool.recording(second.recording_id)
    assert refused is not None
    assert refused.vault_state is VaultState.REFUSED
    assert refused.refusal is not None
    assert "no calls left" in refused.refusal
    assert [s.sha256 for s in spool.pending_for(second.recording_id)] == [
        sha for sha, _ in second.segments
    ]
    for sha, data in second.segments:
        assert (spool.root / "segments" / f"{sha}.seg").read_bytes() == data
    (refusal,) = up.status().refusals
    assert str(second.recording_id) in refusal
    assert "no calls left" in refusal
    assert "1 recording need attention" in up.status().note()
    assert vault_recording(vault, first.recording_id)[0] == "complete"
    assert vault_recording(vault, second.recording_id) == (None, [])
    # A new uploader (the agent restarted) does not try the refused recording again.
    changes: list[UploadStatus] = []
    again = uploader(spool, counting, on_change=changes.append)
    again.start()
    try:
        eventually(lambda: any(c.state == "idle" for c in changes), "a second pass")
    finally:
        assert again.stop()
    assert attempts == [first.recording_id, second.recording_id]


@pytest.mark.parametrize("how", ["revoked", "unknown"])
@pytest.mark.logs_errors(r"uploads stopped, the vault refuses this machine")
def test_a_device_the_vault_refuses_stops_all_uploads(
    vault: VaultUnderTest, device: DeviceClient, spool: Spool, how: str
) -> None:
    session = vault.start_session("tina", "alice")
    recording = spool_recording(spool, vault, session)
    client = device
    if how == "revoked":
        devices.revoke(vault.ctx.engine, device.device_id, now=vault.ctx.clock(), by="test")
    else:
        client = DeviceClient(
            device._client, uuid.uuid4(), DeviceKey.generate(), clock=device._clock
        )
    up = uploader(spool, client)
    up.start()
    try:
        eventually(lambda: up.status().state == "stopped", "the stop")
    finally:
        assert up.stop()
    status = up.status()
    assert status.needs_enrolment
    assert status.note().startswith("uploads stopped: enrol this machine again")
    assert ("revoked" if how == "revoked" else "unknown device") in (status.last_error or "")
    assert len(spool.pending_for(recording.recording_id)) == 4
    assert vault_recording(vault, recording.recording_id) == (None, [])


class TimedClient(DeviceClient):
    """The real client, noting when (on the uploader's clock) each segment began and its size."""

    def __init__(self, base: DeviceClient, clock: Callable[[], float]) -> None:
        super().__init__(base._client, base.device_id, base._key, clock=base._clock)
        self.sends: list[tuple[float, int]] = []
        self.uploader_clock = clock

    def upload_segment(self, sha256: str, sealed: bytes) -> bool:
        self.sends.append((self.uploader_clock(), len(sealed)))
        return super().upload_segment(sha256, sealed)


def test_pacing_keeps_the_average_rate_under_the_limit(
    vault: VaultUnderTest, device: DeviceClient, spool: Spool
) -> None:
    session = vault.start_session("tina", "alice", calls=2)
    spool_recording(spool, vault, session)
    spool_recording(spool, vault, session, started_offset=1.0)
    fake = FakeTime()
    timed = TimedClient(device, fake.clock)
    up = uploader(spool, timed, fake, limit_kbps=64)
    up.start()
    try:
        eventually(lambda: up.status().uploaded_segments == 8, "all segments")
    finally:
        assert up.stop()
    rate = 64 * 1000 / 8
    sends = timed.sends
    assert len(sends) == 8
    for (began, size), (next_began, _) in itertools.pairwise(sends):
        # The network takes no time on the fake clock, so the pacing alone spaces them.
        assert next_began - began == pytest.approx(size / rate)
    sent_before_last = sum(size for _, size in sends[:-1])
    assert sent_before_last <= rate * (sends[-1][0] - sends[0][0]) * (1 + 1e-9)


def test_heartbeats_reach_the_vault_with_the_backlog(
    vault: VaultUnderTest, device: DeviceClient, spool: Spool
) -> None:
    session = vault.start_session("tina", "alice")
    spool_recording(spool, vault, session, state=RecordingState.RECORDING)
    backlog = spool.status()
    fake = FakeTime(real_below=float("inf"))
    fake.on_wait = lambda _s: time.sleep(0.05)
    up = Uploader(
        spool, device, agent_version="test-7", clock=fake.clock, wait=fake.wait, heartbeat_s=60
    )

    def beat() -> DeviceHealth:
        (health,) = devices.health(vault.ctx.engine, now=vault.ctx.clock())
        return health

    up.start()
    try:
        eventually(lambda: beat().heartbeat_at is not None, "a heartbeat")
        first = beat()
        assert first.agent_version == "test-7"
        assert first.backlog_segments == backlog.pending_segments == 4
        assert first.backlog_bytes == backlog.pending_bytes
        assert first.status == "ok"
        vault_clock = vault.ctx.clock
        assert isinstance(vault_clock, SettableClock)
        vault_clock.advance(timedelta(minutes=5))
        later = vault.ctx.clock()
        eventually(lambda: beat().heartbeat_at == later, "the next heartbeat")
    finally:
        assert up.stop()
    assert all(w == pytest.approx(60.0) for w in fake.waits[1:])


def test_stop_returns_promptly_in_the_middle_of_a_backoff(
    vault: VaultUnderTest, device: DeviceClient, spool: Spool
) -> None:
    session = vault.start_session("tina", "alice")
    spool_recording(spool, vault, session)
    vault.stop_serving()

    class Longest(random.Random):
        def uniform(self, a: float, b: float) -> float:
            return b

    up = Uploader(spool, device, agent_version="t", rng=Longest())
    up.start()
    try:

        def long_backoff() -> bool:
            status = up.status()
            return status.state == "waiting" and (status.retry_at or 0) - time.monotonic() > 1.5

        # The second failure waits 2 s: stop() must cut that wait short.
        eventually(long_backoff, "a backoff of 2 s")
    finally:
        began = time.monotonic()
        stopped = up.stop()
        took = time.monotonic() - began
    assert stopped, "the uploader thread did not end"
    assert took < 5  # lenient: stop() itself gives up after 1 s
    assert len(spool.pending()) == 4
    vault.resume_serving()
