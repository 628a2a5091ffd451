"""The agent's controls in one process, every part real: the notice's lead time, consent,
personal calls, the four pause sources and managed settings.

The agent is wired as agent/app.py wires it (tests/agent_inprocess.py), without a vault: the
real core, state machine, capture pipeline (X display + private PulseAudio), sealer, spool,
Qt shell, tray (trayer), hotkey, control socket and payment-title watcher. A training session
and the call's off-/on-hook are posted to the core; those inputs are tested end to end in
tests/test_agent_e2e.py.

Timing assertions only go the way the product guarantees: capture never starts earlier
than the lead time after the notice was exposed, however late it may start.
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import av
import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot
from Xlib import Xatom
from Xlib.display import Display

from agent.capture.geometry import Rect
from agent.capture.pipeline import CapturePipeline
from agent.detect.base import CallSignal
from agent.paths import AgentPaths
from agent.session.machine import PERSONAL_CALLS_FORBIDDEN
from agent.session.vocabulary import State
from agent.settings.layers import (
    SettingRefusedError,
    SettingSource,
    load_settings,
    save_user_setting,
)
from agent.settings.managed_policy import PolicyFile
from agent.spool.spool import RecordingState
from agent.ui.notice import NoticeWindow
from agent.ui.tray import MANAGED_SUFFIX
from protocol.keys import VaultIdentity
from protocol.recording_metadata import RecordingMetadata
from protocol.recording_vocabulary import BlankReason, PauseSource
from protocol.segments.format import METADATA_SEGMENT_INDEX, MediaType
from protocol.segments.unseal import open_segment
from testbed.pulse import PulseServer
from testbed.waiting import wait_for
from tests.helpers.agent_inprocess import (
    BUSINESS_CLASS,
    BUSINESS_TITLE,
    VIDEO_HEIGHT,
    VIDEO_WIDTH,
    InProcessAgent,
    base_policy,
    pipeline_frame_is_black,
    running_agent,
    use_pulse_in_process,
    write_policy,
)
from tests.helpers.desktop import Desktop, SpawnedWindow
from tests.helpers.qt import xdotool
from vault.assemble import join_segments
from vault.assemble_command import open_sealed_recording

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="managed policy files must be root's, so these tests run as root"
)

# Generous: these only bound how long a broken agent is waited for.
STATE_TIMEOUT_MS = 30_000
PAYMENT_TITLE = "Payment - card details"

StartAgent = Callable[..., InProcessAgent]


@pytest.fixture
def business_window(desktop: Desktop) -> SpawnedWindow:
    return desktop.spawn_colour_window(
        geometry=Rect(200, 150, VIDEO_WIDTH, VIDEO_HEIGHT),
        title=BUSINESS_TITLE,
        wm_class=BUSINESS_CLASS,
        colour="20c020",
    )


@pytest.fixture
def start_agent(
    tray_host: int,
    pulse_server: PulseServer,
    business_window: SpawnedWindow,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[StartAgent]:
    """Start the in-process agent under a managed policy (its root: `root`/agent, where
    `root` is a fresh short directory unless given); stopped after the test."""
    use_pulse_in_process(monkeypatch, pulse_server)
    with contextlib.ExitStack() as stack:

        def start(
            policy: dict[str, object] | PolicyFile, root: Path | None = None
        ) -> InProcessAgent:
            # Short: the control socket lives under it (a Unix socket path has ~100 bytes).
            root = root or tmp_path_factory.mktemp("cr")
            managed = (
                policy
                if isinstance(policy, PolicyFile)
                else write_policy(root / "policy.toml", policy)
            )
            return stack.enter_context(running_agent(root / "agent", managed))

        yield start


# --- helpers -------------------------------------------------------------------------------


def wait_state(qtbot: QtBot, agent: InProcessAgent, state: State) -> None:
    qtbot.waitUntil(lambda: agent.core.status.state is state, timeout=STATE_TIMEOUT_MS)


def armed(qtbot: QtBot, agent: InProcessAgent) -> None:
    agent.start_session()
    wait_state(qtbot, agent, State.ARMED)


def off_hook(agent: InProcessAgent) -> None:
    agent.core.on_call_signal(CallSignal(off_hook=True, call_id="c1", detector="test"))


def on_hook(agent: InProcessAgent) -> None:
    agent.core.on_call_signal(CallSignal(off_hook=False, call_id="c1", detector="test"))


def exposed_notice(qtbot: QtBot, agent: InProcessAgent) -> NoticeWindow:
    """The call's notice, once it is on screen and has told the core so."""

    def shown() -> bool:
        notice = agent.shell.current_notice
        return notice is not None and notice.isVisible() and notice.shown_at is not None

    qtbot.waitUntil(shown, timeout=STATE_TIMEOUT_MS)
    notice = agent.shell.current_notice
    assert notice is not None
    return notice


def wall_time_of(monotonic_at: float) -> float:
    """A wall time no later than the moment `monotonic_at` (time.time() is read first)."""
    wall = time.time()
    return wall - (time.monotonic() - monotonic_at)


def rid_of(notice: NoticeWindow) -> uuid.UUID:
    return notice.recording_id


def pipeline_of(agent: InProcessAgent, rid: uuid.UUID) -> CapturePipeline:
    """The recording's pipeline; the core makes it just after asking for the notice, so it
    may come a moment after the notice is on screen."""
    return wait_for(
        lambda: agent.capture.pipelines.get(rid), what=f"the pipeline of {rid}", timeout=10
    )


def wait_for_frames(qtbot: QtBot, pipeline: CapturePipeline, more: int) -> None:
    wanted = pipeline.summary.frames_grabbed + more
    qtbot.waitUntil(lambda: pipeline.summary.frames_grabbed >= wanted, timeout=STATE_TIMEOUT_MS)


def media_segments(agent: InProcessAgent, rid: uuid.UUID) -> list[int]:
    return [
        segment.segment_index
        for segment in agent.spool.pending_for(rid)
        if segment.media_type is not MediaType.JSON
    ]


def segment_files(agent: InProcessAgent) -> list[Path]:
    return sorted((agent.spool.root / "segments").rglob("*.*"))


def hang_up_and_settle(qtbot: QtBot, agent: InProcessAgent) -> None:
    on_hook(agent)
    wait_state(qtbot, agent, State.ARMED)


def assert_kept(qtbot: QtBot, agent: InProcessAgent, rid: uuid.UUID) -> None:
    recording = agent.spool.recording(rid)
    assert recording is not None
    assert recording.state is RecordingState.COMPLETE
    assert recording.session_id == "s-1"
    assert media_segments(agent, rid), agent.spool.pending_for(rid)
    kinds = [segment.media_type for segment in agent.spool.pending_for(rid)]
    assert kinds[-1] is MediaType.JSON  # the metadata, sealed like the media


def assert_destroyed(agent: InProcessAgent, rid: uuid.UUID) -> None:
    recording = agent.spool.recording(rid)
    assert recording is not None
    assert recording.state is RecordingState.DISCARDED
    assert agent.spool.pending_for(rid) == []
    assert agent.spool.pending() == []
    assert segment_files(agent) == []


# --- 1. the notice comes first -------------------------------------------------------------


def test_nothing_is_captured_until_the_notice_has_been_on_screen_for_its_lead_time(
    qtbot: QtBot, start_agent: StartAgent
) -> None:
    agent = start_agent(base_policy(notice_lead_time_s=1.0))
    lead = agent.settings.notice_lead_time_s
    assert lead == 1.0
    armed(qtbot, agent)

    off_hook(agent)
    notice = exposed_notice(qtbot, agent)
    assert notice.shown_at is not None
    exposed_wall = wall_time_of(notice.shown_at)
    rid = rid_of(notice)
    pipeline = pipeline_of(agent, rid)
    lead_over = notice.shown_at + lead

    checks = 0
    while True:
        # Everything is read first, the clock after: a violation seen here really happened
        # before the lead time was over.
        state = agent.core.status.state
        recordings = agent.spool.list_recordings()
        pending = agent.spool.pending()
        frame = pipeline.latest_frame
        grabbed = pipeline.summary.frames_grabbed
        if time.monotonic() >= lead_over:
            break
        assert state is State.NOTICE
        assert pending == []
        assert [r for r in recordings if r.state is RecordingState.RECORDING] == []
        assert frame is None
        assert grabbed == 0
        checks += 1
        qtbot.wait(20)
    assert checks >= 1, "the lead time was over before it could be checked once"

    wait_state(qtbot, agent, State.RECORDING)
    recording = agent.spool.recording(rid)
    assert recording is not None
    assert recording.started_at is not None
    assert recording.started_at >= exposed_wall + lead, (recording.started_at, exposed_wall)
    qtbot.waitUntil(lambda: pipeline.latest_frame is not None, timeout=STATE_TIMEOUT_MS)
    assert recording.state is RecordingState.RECORDING
    assert notice.isVisible()  # the notice stays up while recording
    qtbot.waitUntil(lambda: notice.countdown_label.text() == "Recording", timeout=5000)
    wait_for_frames(qtbot, pipeline, 10)

    hang_up_and_settle(qtbot, agent)
    assert_kept(qtbot, agent, rid)
    qtbot.waitUntil(lambda: agent.shell.current_notice is None, timeout=STATE_TIMEOUT_MS)


# --- 2. consent ----------------------------------------------------------------------------


def test_caller_declined_destroys_the_recording(qtbot: QtBot, start_agent: StartAgent) -> None:
    agent = start_agent(base_policy(consent_required=True, consent_timeout_s=120.0))
    armed(qtbot, agent)
    off_hook(agent)
    notice = exposed_notice(qtbot, agent)
    rid = rid_of(notice)
    assert notice.declined_button.isVisible()
    assert notice.agreed_button.isVisible()
    wait_state(qtbot, agent, State.RECORDING)
    pipeline = pipeline_of(agent, rid)
    wait_for_frames(qtbot, pipeline, 15)  # more than a segment's worth at 10 fps
    qtbot.waitUntil(lambda: bool(agent.spool.pending_for(rid)), timeout=STATE_TIMEOUT_MS)

    QTest.mouseClick(notice.declined_button, Qt.MouseButton.LeftButton)

    wait_state(qtbot, agent, State.DISCARDED)
    qtbot.waitUntil(
        lambda: agent.spool.recording_state(rid) is RecordingState.DISCARDED,
        timeout=STATE_TIMEOUT_MS,
    )
    assert_destroyed(agent, rid)
    qtbot.waitUntil(lambda: agent.shell.current_notice is None, timeout=STATE_TIMEOUT_MS)
    # Still on the call: the machine stays DISCARDED until the hang-up.
    qtbot.wait(500)
    assert agent.core.status.state is State.DISCARDED
    hang_up_and_settle(qtbot, agent)
    assert_destroyed(agent, rid)


def test_caller_agreed_keeps_the_recording(qtbot: QtBot, start_agent: StartAgent) -> None:
    agent = start_agent(base_policy(consent_required=True, consent_timeout_s=120.0))
    armed(qtbot, agent)
    off_hook(agent)
    notice = exposed_notice(qtbot, agent)
    rid = rid_of(notice)

    QTest.mouseClick(notice.agreed_button, Qt.MouseButton.LeftButton)
    assert not notice.agreed_button.isEnabled()
    assert not notice.declined_button.isEnabled()

    wait_state(qtbot, agent, State.RECORDING)
    wait_for_frames(qtbot, pipeline_of(agent, rid), 15)
    hang_up_and_settle(qtbot, agent)
    assert_kept(qtbot, agent, rid)


def test_no_answer_within_the_consent_time_destroys_the_recording(
    qtbot: QtBot, start_agent: StartAgent
) -> None:
    agent = start_agent(base_policy(consent_required=True, consent_timeout_s=2.0))
    armed(qtbot, agent)
    off_hook(agent)
    notice = exposed_notice(qtbot, agent)
    rid = rid_of(notice)
    assert notice.shown_at is not None
    deadline_wall = wall_time_of(notice.shown_at) + 2.0

    # The lead time (1 s) is shorter than the consent time: capture runs meanwhile.
    wait_state(qtbot, agent, State.DISCARDED)
    assert time.time() >= deadline_wall
    qtbot.waitUntil(
        lambda: agent.spool.recording_state(rid) is RecordingState.DISCARDED,
        timeout=STATE_TIMEOUT_MS,
    )
    assert_destroyed(agent, rid)
    qtbot.wait(500)
    assert agent.core.status.state is State.DISCARDED
    hang_up_and_settle(qtbot, agent)
    assert_destroyed(agent, rid)


# --- 3. personal calls ---------------------------------------------------------------------


def test_personal_button_on_the_notice_keeps_the_call_out_entirely(
    qtbot: QtBot, start_agent: StartAgent
) -> None:
    # A long lead time, so the click surely lands before capture would start.
    agent = start_agent(base_policy(notice_lead_time_s=60.0))
    armed(qtbot, agent)
    off_hook(agent)
    notice = exposed_notice(qtbot, agent)
    rid = rid_of(notice)
    pipeline = pipeline_of(agent, rid)
    assert notice.personal_button.isVisible()

    QTest.mouseClick(notice.personal_button, Qt.MouseButton.LeftButton)

    wait_state(qtbot, agent, State.DISCARDED)
    qtbot.waitUntil(lambda: agent.shell.current_notice is None, timeout=STATE_TIMEOUT_MS)
    hang_up_and_settle(qtbot, agent)
    assert pipeline.latest_frame is None
    assert pipeline.summary.frames_grabbed == 0
    assert agent.spool.recording(rid) is None
    assert agent.spool.list_recordings() == []
    assert agent.spool.pending() == []
    assert segment_files(agent) == []


def test_personal_call_from_the_tray_during_capture_destroys_the_recording(
    qtbot: QtBot, start_agent: StartAgent
) -> None:
    agent = start_agent(base_policy())
    armed(qtbot, agent)
    off_hook(agent)
    rid = rid_of(exposed_notice(qtbot, agent))
    wait_state(qtbot, agent, State.RECORDING)
    wait_for_frames(qtbot, pipeline_of(agent, rid), 15)
    qtbot.waitUntil(lambda: bool(agent.spool.pending_for(rid)), timeout=STATE_TIMEOUT_MS)
    tray = agent.shell.tray
    qtbot.waitUntil(tray.personal_action.isEnabled, timeout=STATE_TIMEOUT_MS)
    assert tray.personal_action.isVisible()

    tray.personal_action.trigger()

    wait_state(qtbot, agent, State.DISCARDED)
    qtbot.waitUntil(
        lambda: agent.spool.recording_state(rid) is RecordingState.DISCARDED,
        timeout=STATE_TIMEOUT_MS,
    )
    assert_destroyed(agent, rid)
    hang_up_and_settle(qtbot, agent)
    assert_destroyed(agent, rid)


# --- 4. pause, from every source -----------------------------------------------------------


def _paused_and_resumed(
    qtbot: QtBot,
    agent: InProcessAgent,
    pipeline: CapturePipeline,
    source: PauseSource,
    *,
    pause: Callable[[], object],
    resume: Callable[[], object],
) -> None:
    core = agent.core
    assert core.status.state is State.RECORDING
    assert not pipeline_frame_is_black(pipeline.latest_frame)

    pause()
    qtbot.waitUntil(
        lambda: core.status.state is State.PAUSED and core.status.paused_by == {source},
        timeout=STATE_TIMEOUT_MS,
    )
    qtbot.waitUntil(
        lambda: pipeline_frame_is_black(pipeline.latest_frame), timeout=STATE_TIMEOUT_MS
    )
    wait_for_frames(qtbot, pipeline, 5)
    assert pipeline_frame_is_black(pipeline.latest_frame), source  # and it stays black
    assert pipeline_frame_is_black(core.preview_frame())
    qtbot.waitUntil(
        lambda: agent.shell.last_status is not None and source in agent.shell.last_status.paused_by,
        timeout=STATE_TIMEOUT_MS,
    )

    resume()
    qtbot.waitUntil(
        lambda: core.status.state is State.RECORDING and not core.status.paused_by,
        timeout=STATE_TIMEOUT_MS,
    )
    qtbot.waitUntil(
        lambda: pipeline.latest_frame is not None and bool(pipeline.latest_frame.any()),
        timeout=STATE_TIMEOUT_MS,
    )
    qtbot.waitUntil(
        lambda: agent.shell.last_status is not None and not agent.shell.last_status.paused_by,
        timeout=STATE_TIMEOUT_MS,
    )


def _callreel_agent(*arguments: str) -> None:
    program = Path(sys.executable).parent / "callreel-agent"
    done = subprocess.run(
        [str(program), *arguments], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, (done.stdout, done.stderr)


def test_every_pause_source_pauses_capture_and_the_pauses_are_sealed_in_the_metadata(
    qtbot: QtBot, start_agent: StartAgent, business_window: SpawnedWindow
) -> None:
    agent = start_agent(base_policy())
    root = agent.paths.data_dir.parent
    assert AgentPaths.under(root).runtime_dir == agent.paths.runtime_dir
    agent.start_control_server()
    agent.start_hotkey()
    agent.start_payment_watcher()
    armed(qtbot, agent)
    off_hook(agent)
    rid = rid_of(exposed_notice(qtbot, agent))
    wait_state(qtbot, agent, State.RECORDING)
    pipeline = pipeline_of(agent, rid)
    qtbot.waitUntil(
        lambda: pipeline.latest_frame is not None and bool(pipeline.latest_frame.any()),
        timeout=STATE_TIMEOUT_MS,
    )
    tray = agent.shell.tray
    window = str(business_window.window_id)

    def tray_pause() -> None:
        qtbot.waitUntil(lambda: tray.pause_action.isVisible() and tray.pause_action.isEnabled())
        tray.pause_action.trigger()

    def tray_resume() -> None:
        qtbot.waitUntil(
            lambda: tray.resume_action.isVisible() and tray.resume_action.isEnabled(),
            timeout=STATE_TIMEOUT_MS,
        )
        tray.resume_action.trigger()

    _paused_and_resumed(
        qtbot, agent, pipeline, PauseSource.TRAY, pause=tray_pause, resume=tray_resume
    )
    _paused_and_resumed(
        qtbot,
        agent,
        pipeline,
        PauseSource.HOTKEY,
        pause=lambda: xdotool("key", "ctrl+alt+p"),
        resume=lambda: xdotool("key", "ctrl+alt+p"),
    )
    _paused_and_resumed(
        qtbot,
        agent,
        pipeline,
        PauseSource.COMMAND_LINE,
        pause=lambda: _callreel_agent("pause", "--root", str(root)),
        resume=lambda: _callreel_agent("resume", "--root", str(root)),
    )
    _paused_and_resumed(
        qtbot,
        agent,
        pipeline,
        PauseSource.PAYMENT_WINDOW,
        pause=lambda: xdotool("set_window", "--name", PAYMENT_TITLE, window),
        resume=lambda: xdotool("set_window", "--name", BUSINESS_TITLE, window),
    )
    wait_for_frames(qtbot, pipeline, 5)
    hang_up_and_settle(qtbot, agent)
    assert_kept(qtbot, agent, rid)

    [metadata_segment] = [
        segment for segment in agent.spool.pending_for(rid) if segment.media_type is MediaType.JSON
    ]
    assert metadata_segment.segment_index == METADATA_SEGMENT_INDEX
    sealed = agent.spool.read(metadata_segment)
    assert b"pauses" not in sealed  # sealed, not merely stored
    with pytest.raises(Exception):  # noqa: B017, PT011 - any refusal will do
        open_segment(VaultIdentity.generate(), sealed)
    _, plain = open_segment(
        agent.identity, sealed, expect_recording=rid, expect_index=METADATA_SEGMENT_INDEX
    )
    metadata = RecordingMetadata.model_validate_json(plain)
    assert metadata.recording_id == rid
    pauses = metadata.pauses
    assert len(pauses) == 4, pauses
    sources = (
        PauseSource.TRAY,
        PauseSource.HOTKEY,
        PauseSource.COMMAND_LINE,
        PauseSource.PAYMENT_WINDOW,
    )
    previous_end = 0.0
    for span, source in zip(pauses, sources, strict=True):
        assert previous_end <= span.start_s < span.end_s
        assert span.sources == [source], pauses
        previous_end = span.end_s
    blanked_by_payment = [
        span for span in metadata.blanked if span.reason is BlankReason.PAYMENT_WINDOW
    ]
    assert sum(span.frames for span in blanked_by_payment) > 0, metadata.blanked


PAYMENT_TRIALS = 20
CODEC_FRAME_S = 0.025
"""Decoded audio smears past an edge (Opus frames are 20 ms, its look-ahead 6.5 ms): the
decoded check starts this late and measures RMS (a low tail of codec noise can outlast it).
The pause's own start, from which the encoder was given only zeros, is checked exactly."""


class _Retitler:
    """Sets the business window's title from this process, on the pipeline's audio clock."""

    def __init__(self, window_id: int) -> None:
        self._display = Display()
        self._window = self._display.create_resource_object("window", window_id)
        self._net_wm_name = self._display.intern_atom("_NET_WM_NAME")
        self._utf8 = self._display.intern_atom("UTF8_STRING")

    def set(self, title: str, pipeline: CapturePipeline) -> float:
        """Retitle; returns the recording time just before the X server could apply it."""
        at = pipeline.elapsed()
        self._window.change_property(self._net_wm_name, self._utf8, 8, title.encode())
        self._window.change_property(Xatom.WM_NAME, Xatom.STRING, 8, title.encode("latin-1"))
        self._display.sync()
        return at

    def close(self) -> None:
        self._display.close()


def _caller_audio(agent: InProcessAgent, rid: uuid.UUID) -> tuple[np.ndarray, float]:
    """The recording's caller channel (48 kHz) and the recording time of its first sample."""
    recording = open_sealed_recording(agent.spool.root, agent.identity, rid)
    joined = join_segments(recording.media, recording.container)
    with av.open(io.BytesIO(joined), mode="r") as container:
        chunks = [
            (float(frame.time or 0.0), np.asarray(frame.to_ndarray(), dtype=np.float64)[1])
            for frame in container.decode(audio=0)
        ]
    return np.concatenate([samples for _, samples in chunks]), chunks[0][0]


def test_payment_title_silences_the_call_from_the_moment_it_appears(
    qtbot: QtBot,
    start_agent: StartAgent,
    business_window: SpawnedWindow,
    pulse_server: PulseServer,
) -> None:
    agent = start_agent(base_policy(payment_title_pattern="^Payment"))
    agent.start_payment_watcher()
    armed(qtbot, agent)
    caller = pulse_server.play_tone("callsink", 1000, 60)
    retitler = _Retitler(business_window.window_id)
    seed = random.randrange(2**32)
    phases = random.Random(seed)
    changes: list[float] = []
    try:
        off_hook(agent)
        rid = rid_of(exposed_notice(qtbot, agent))
        wait_state(qtbot, agent, State.RECORDING)
        pipeline = pipeline_of(agent, rid)
        grab_interval = 1.0 / agent.settings.fps
        qtbot.wait(600)
        for _ in range(PAYMENT_TRIALS):
            # Anywhere in the grab interval, and anywhere in the title watcher's poll.
            qtbot.wait(round(1000 * phases.uniform(0, 3 * grab_interval)))
            changes.append(retitler.set(PAYMENT_TITLE, pipeline))
            qtbot.wait(500)
            retitler.set(BUSINESS_TITLE, pipeline)
            qtbot.wait(600)
        hang_up_and_settle(qtbot, agent)
    finally:
        retitler.close()
        caller.kill()
        caller.wait()
    assert_kept(qtbot, agent, rid)

    recording = open_sealed_recording(agent.spool.root, agent.identity, rid)
    assert recording.metadata is not None
    pauses = recording.metadata.pauses or []
    right, audio_start = _caller_audio(agent, rid)
    late = []
    for trial, change in enumerate(changes):
        span = next((p for p in pauses if p.start_s <= change < p.end_s), None)
        first = round((change + CODEC_FRAME_S - audio_start) * 48_000)
        level = float(np.sqrt(np.mean(right[first : first + round(0.3 * 48_000)] ** 2)))
        if span is None or span.end_s < change + 0.3 or level > 0.001:
            late.append((trial, round(change, 3), span, level))
    # Outside the pauses the caller is heard: the check above is not true of silence alone.
    assert float(np.sqrt(np.mean(right[: round(0.5 * 48_000)] ** 2))) > 0.05
    assert late == [], f"seed {seed}: audio kept after the payment title appeared: {late}"


# --- 5. managed settings -------------------------------------------------------------------


def _managed_policy_and_user_file(root: Path) -> tuple[PolicyFile, Path]:
    policy_dir = root / "etc"
    policy_dir.mkdir(mode=0o755)
    managed = write_policy(
        policy_dir / "policy.toml",
        base_policy(personal_calls_allowed=False, notice_lead_time_s=2.0),
    )
    assert managed.path.stat().st_uid == 0
    assert managed.path.stat().st_mode & 0o777 == 0o644
    user_file = AgentPaths.under(root / "agent").user_settings_file
    user_file.parent.mkdir(parents=True)
    user_file.write_text("personal_calls_allowed = true\nnotice_lead_time_s = 0.5\n")
    return managed, user_file


def test_managed_settings_cannot_be_overridden_by_the_user(
    qtbot: QtBot, start_agent: StartAgent, tmp_path_factory: pytest.TempPathFactory
) -> None:
    root = tmp_path_factory.mktemp("cr")
    managed, user_file = _managed_policy_and_user_file(root)

    effective = load_settings(user_file, managed)
    assert effective.values.personal_calls_allowed is False
    assert effective.values.notice_lead_time_s == 2.0
    assert effective.source_of("personal_calls_allowed") is SettingSource.MANAGED
    assert effective.source_of("notice_lead_time_s") is SettingSource.MANAGED
    problems = "\n".join(effective.problems)
    assert "personal_calls_allowed ignored" in problems, problems
    assert "notice_lead_time_s ignored" in problems, problems
    for name, value in (("personal_calls_allowed", "true"), ("notice_lead_time_s", "0.5")):
        with pytest.raises(SettingRefusedError, match=name):
            save_user_setting(user_file, name, value, managed)
    assert user_file.read_text() == "personal_calls_allowed = true\nnotice_lead_time_s = 0.5\n"

    # The agent itself, reading the same files (its root holds that agent.toml).
    agent = start_agent(managed, root)
    assert agent.paths.user_settings_file == user_file
    assert agent.settings.personal_calls_allowed is False
    assert agent.settings.notice_lead_time_s == 2.0
    tray = agent.shell.tray
    armed(qtbot, agent)
    off_hook(agent)
    notice = exposed_notice(qtbot, agent)
    assert notice.shown_at is not None
    exposed_wall = wall_time_of(notice.shown_at)
    rid = rid_of(notice)
    assert notice.notice.personal_allowed is False
    assert not notice.personal_button.isVisible()
    qtbot.waitUntil(
        lambda: (
            agent.shell.last_status is not None and agent.shell.last_status.state is State.NOTICE
        ),
        timeout=STATE_TIMEOUT_MS,
    )
    assert not tray.personal_action.isVisible()
    assert not tray.personal_action.isEnabled()
    shown = {action.text(): action for action in tray.setting_actions()}
    for text in ("personal_calls_allowed: false", "notice_lead_time_s: 2.0"):
        action = shown.get(text + MANAGED_SUFFIX)
        assert action is not None, (text, sorted(shown))
        assert not action.isEnabled()

    wait_state(qtbot, agent, State.RECORDING)
    recording = agent.spool.recording(rid)
    assert recording is not None
    assert recording.started_at is not None
    assert recording.started_at >= exposed_wall + 2.0  # the managed lead time, not the user's
    assert not tray.personal_action.isVisible()

    with qtbot.waitSignal(
        agent.view.message,
        check_params_cb=lambda message: message == PERSONAL_CALLS_FORBIDDEN,
        timeout=STATE_TIMEOUT_MS,
    ):
        agent.core.declare_personal_call()
    assert agent.core.status.state is State.RECORDING
    wait_for_frames(qtbot, pipeline_of(agent, rid), 10)
    hang_up_and_settle(qtbot, agent)
    assert_kept(qtbot, agent, rid)


def test_my_recordings_in_the_browser_says_why_not_without_a_vault(
    qtbot: QtBot, start_agent: StartAgent
) -> None:
    agent = start_agent(base_policy())
    with qtbot.waitSignal(agent.view.message, timeout=STATE_TIMEOUT_MS) as said:
        agent.shell.tray.console_action.trigger()
    assert "not enrolled" in said.args[0]
