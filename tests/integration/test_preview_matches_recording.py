"""The agent window's live preview keeps exactly the pixels a recording keeps, for the same
window state: plainly visible, covered, titled as a payment page, paused and minimised.

Real components: the business window and a covering window on Xvfb + openbox, the settings'
capture factory, and a recording pipeline running against the private PulseAudio.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from agent.capture.factory import CaptureChoices, SettingsCaptureFactory
from agent.capture.geometry import Rect
from agent.capture.pipeline import CapturePipeline
from agent.settings.fields import AgentSettings
from agent.spool.spool import Spool
from protocol.keys import VaultIdentity
from protocol.recording_vocabulary import PauseSource
from testbed.pulse import PulseServer
from testbed.waiting import wait_for
from tests.helpers.agent_inprocess import use_pulse_in_process
from tests.helpers.desktop import Desktop
from tests.helpers.qt import xdotool

BUSINESS = Rect(100, 100, 320, 200)
BUSINESS_TITLE = "CRM - Orders"


@pytest.fixture
def factory(tmp_path: Path) -> Iterator[SettingsCaptureFactory]:
    settings = AgentSettings(
        window_class="Business",
        microphone="callreel_mic",
        far_end="callreel_farend",
        payment_title_pattern="(?i)payment",
        video_width=320,
        video_height=200,
        fps=10.0,
        segment_seconds=1.0,
    )
    with Spool(tmp_path / "spool", min_free_bytes=0) as spool:
        made = SettingsCaptureFactory(
            CaptureChoices.from_settings(settings), VaultIdentity.generate().recipient, spool
        )
        yield made
        made.close_preview()


def _settled(pipeline: CapturePipeline) -> np.ndarray:
    """The recording's frame once two grabs in a row agree (the state has settled)."""
    frames: list[np.ndarray] = []

    def steady() -> tuple[np.ndarray] | None:
        frame = pipeline.latest_frame
        if frame is None:
            return None
        frames.append(frame)
        if len(frames) >= 3 and all(np.array_equal(f, frame) for f in frames[-3:]):
            return (frame,)  # a tuple: an array has no single truth value
        return None

    (frame,) = wait_for(
        steady, timeout=10.0, interval=0.15, what="the recording's frames to settle"
    )
    return frame


def test_preview_and_recording_keep_the_same_pixels(
    desktop: Desktop,
    pulse_server: PulseServer,
    factory: SettingsCaptureFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_pulse_in_process(monkeypatch, pulse_server)
    business = desktop.spawn_colour_window(
        geometry=BUSINESS, title=BUSINESS_TITLE, wm_class="Business", colour="20c020"
    )
    pipeline = factory.create(uuid.uuid4())
    pipeline.prepare()
    pipeline.start()
    try:

        def same(paused: bool) -> np.ndarray:
            recorded = _settled(pipeline)
            previewed = factory.preview(paused)
            assert previewed is not None
            assert previewed.shape == recorded.shape
            assert np.array_equal(previewed, recorded)
            return recorded

        visible = same(False)
        assert (visible[:, :, 1] > 150).mean() > 0.99  # the green window, whole

        cover = desktop.spawn_colour_window(
            geometry=Rect(300, 150, 200, 100), title="Chat", wm_class="Chat", colour="ff00ff"
        )
        covered = same(False)
        assert 0.3 < (covered[:, :, 1] > 150).mean() < 0.9  # part of it black, none magenta
        assert int(((covered[:, :, 2] > 150) & (covered[:, :, 0] > 150)).sum()) == 0
        desktop.close(cover)
        same(False)

        xdotool("set_window", "--name", "Payment - card details", str(business.window_id))
        assert same(False).max() == 0
        xdotool("set_window", "--name", BUSINESS_TITLE, str(business.window_id))
        assert same(False).max() > 0

        pipeline.pause(frozenset({PauseSource.TRAY}))
        assert same(True).max() == 0
        pipeline.resume()
        assert same(False).max() > 0

        desktop.minimise(business)
        assert same(False).max() == 0
    finally:
        summary = pipeline.stop()
    assert summary.error is None


@pytest.mark.parametrize("end", ["cancel", "stop"])
def test_a_pipeline_prepared_but_never_started_ends_at_once_having_grabbed_nothing(
    desktop: Desktop,
    pulse_server: PulseServer,
    factory: SettingsCaptureFactory,
    monkeypatch: pytest.MonkeyPatch,
    end: str,
) -> None:
    """The grab thread begins during the notice and waits for `start`; a notice withdrawn
    (or a stop) must end it without one frame."""
    use_pulse_in_process(monkeypatch, pulse_server)
    desktop.spawn_colour_window(
        geometry=BUSINESS, title=BUSINESS_TITLE, wm_class="Business", colour="20c020"
    )
    pipeline = factory.create(uuid.uuid4())
    pipeline.prepare()
    time.sleep(0.5)  # the grab thread has connected to the display and waits
    ending = threading.Thread(target=getattr(pipeline, end), daemon=True)
    ending.start()
    ending.join(10)
    assert not ending.is_alive(), f"{end}() did not return"
    assert pipeline.summary.frames_grabbed == 0
    assert pipeline.latest_frame is None


def test_recordings_leave_no_connection_or_file_open(
    desktop: Desktop,
    pulse_server: PulseServer,
    factory: SettingsCaptureFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The tray agent records call after call in one process: each recording's display
    connections, devices and files are closed when it stops."""
    use_pulse_in_process(monkeypatch, pulse_server)
    desktop.spawn_colour_window(
        geometry=BUSINESS, title=BUSINESS_TITLE, wm_class="Business", colour="20c020"
    )

    def record_briefly() -> None:
        pipeline = factory.create(uuid.uuid4())
        pipeline.prepare()
        pipeline.start()
        wait_for(lambda: pipeline.summary.frames_grabbed >= 2, timeout=10, what="two frames")
        pipeline.stop()

    def open_descriptors() -> int:
        return sum(1 for _ in Path("/proc/self/fd").iterdir())

    record_briefly()  # the first opens what stays for the process (libraries, caches)
    before = open_descriptors()
    for _ in range(3):
        record_briefly()
    assert open_descriptors() <= before, "a recording left descriptors open"
