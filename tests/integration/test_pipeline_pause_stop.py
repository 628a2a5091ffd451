"""The capture pipeline pauses into black and silence, and stops with everything flushed.

A real run on Xvfb and PulseAudio (`testbed.pipeline_child`): a green business window and a
continuous tone from the caller; paused from 1.5 s to 3.0 s, stopped at 4.5 s. The decoded
recording must be black and silent inside the pause, show the window and carry the tone
outside it, record the pause in its metadata, and run right up to the moment stop() was
called (the last, partial segment is flushed, not lost). The time stop() took is printed;
the benchmark `bench/pipeline_stop.py` is where it is measured.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import uuid
from pathlib import Path

import av
import numpy as np

from agent.capture.geometry import Rect
from protocol.keys import VaultIdentity, write_key_pair
from testbed.pulse import PulseServer
from tests.helpers.data import REPO_ROOT as ROOT
from tests.helpers.desktop import Desktop
from vault.assemble import join_segments
from vault.assemble_command import open_sealed_recording

PAUSE, RESUME, STOP = 1.5, 3.0, 4.5
MARGIN = 0.15  # around each change: the grab and the audio block in flight at that instant


def test_pause_is_black_and_silent_and_stop_flushes_the_last_segment(
    desktop: Desktop, pulse_server: PulseServer, tmp_path: Path
) -> None:
    desktop.spawn_colour_window(
        geometry=Rect(100, 100, 320, 240), title="CRM - pause", wm_class="Crm", colour="20c020"
    )
    identity_path, recipient_path = write_key_pair(VaultIdentity.generate(), tmp_path / "keys")
    child = subprocess.Popen(
        [sys.executable, "-m", "testbed.pipeline_child", "--window", "^CRM - pause$",
         "--recipient", str(recipient_path), "--spool", str(tmp_path / "spool"),
         "--pause-at", str(PAUSE), "--resume-at", str(RESUME), "--stop-at", str(STOP)],
        cwd=ROOT, env={**pulse_server.env, "DISPLAY": desktop.server.display},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "started", child.communicate(timeout=60)[1]
    caller = pulse_server.play_tone("callsink", 1000, STOP + 1)
    stdout, stderr = child.communicate(timeout=120)
    caller.wait(timeout=30)
    assert child.returncode == 0, stderr
    report = json.loads(stdout)
    print(f"stop() took {report['stop_seconds'] * 1000:.0f} ms")
    assert report["error"] is None

    recording = open_sealed_recording(
        tmp_path / "spool", VaultIdentity.load(identity_path), uuid.UUID(report["recording"])
    )
    assert recording.metadata is not None
    pauses = recording.metadata.pauses
    assert pauses is not None
    assert len(pauses) == 1, pauses
    paused, resumed = pauses[0].start_s, pauses[0].end_s
    assert abs(paused - PAUSE) < 0.05, pauses
    assert abs(resumed - RESUME) < 0.05, pauses

    joined = join_segments(recording.media, recording.container)
    with av.open(io.BytesIO(joined), mode="r") as container:
        frames = [
            (float(frame.time or 0.0), np.asarray(frame.to_ndarray(format="rgb24"), np.uint8))
            for frame in container.decode(video=0)
        ]
    with av.open(io.BytesIO(joined), mode="r") as container:
        chunks = [
            (float(frame.time or 0.0), np.asarray(frame.to_ndarray(), dtype=np.float64)[1])
            for frame in container.decode(audio=0)
        ]
    right = np.concatenate([samples for _, samples in chunks])
    audio_start = chunks[0][0]

    def caller_level(start: float, end: float) -> float:
        first, last = (round((t - audio_start) * 48_000) for t in (start, end))
        return float(np.abs(right[first:last]).mean())

    for at, rgb in frames:
        green = float((rgb[:, :, 1] > 150).mean())
        if paused + MARGIN < at < resumed - MARGIN:
            assert rgb.max() < 24, f"frame at {at:.2f} s inside the pause is not black"
        elif at < paused - MARGIN or at > resumed + MARGIN:
            assert green > 0.9, f"frame at {at:.2f} s outside the pause: {green:.0%} green"
    assert caller_level(paused + MARGIN, resumed - MARGIN) < 0.001
    assert caller_level(resumed + MARGIN, report["stopped_at"] - MARGIN) > 0.05
    # Flushed up to the stop: the last frame is within two grabs (10 fps) of it, and the
    # audio runs to it.
    assert frames[-1][0] > report["stopped_at"] - 0.2, (frames[-1][0], report["stopped_at"])
    audio_end = audio_start + len(right) / 48_000
    assert abs(audio_end - report["stopped_at"]) < 0.1, (audio_end, report["stopped_at"])
