"""`callreel-agent record` then `callreel-vault assemble`, on a real X desktop and PulseAudio.

The decoded recording must show only the green business window and black (a magenta window
over it and openbox's light title bar never appear), and carry the caller's tone on the right
channel only.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import av
import numpy as np

from agent.capture.geometry import Rect
from protocol.keys import VaultIdentity, write_key_pair
from testbed.pulse import PulseServer
from tests.helpers.data import REPO_ROOT as ROOT
from tests.helpers.desktop import Desktop

BIN = Path(sys.executable).parent


def test_record_and_assemble_keep_only_the_business_window(
    desktop: Desktop, pulse_server: PulseServer, tmp_path: Path
) -> None:
    desktop.spawn_colour_window(
        geometry=Rect(100, 100, 640, 400), title="CRM - e2e", wm_class="Crm", colour="20c020"
    )
    desktop.spawn_colour_window(
        geometry=Rect(500, 300, 300, 200), title="Chat", wm_class="Chat", colour="ff00ff"
    )
    identity_path, recipient_path = write_key_pair(VaultIdentity.generate(), tmp_path / "keys")
    spool = tmp_path / "spool"
    env = {**pulse_server.env, "DISPLAY": os.environ["DISPLAY"]}
    recorder = subprocess.Popen(
        [str(BIN / "callreel-agent"), "record", "--window", "^CRM - e2e$", "--seconds", "6",
         "--recipient", str(recipient_path), "--spool", str(spool),
         "--microphone", "callreel_mic", "--far-end", "callreel_farend",
         "--width", "640", "--height", "400", "--segment-seconds", "2"],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    # Longer than the recording: a recorder slow to start on a busy machine still hears the
    # tone to its end, where the check below looks.
    caller = pulse_server.play_tone("callsink", 1000, 12)
    stdout, stderr = recorder.communicate(timeout=120)
    caller.wait(timeout=30)
    assert recorder.returncode == 0, stdout + stderr
    found = re.search(r"recording ([0-9a-f-]{36}): (\d+) segments", stdout)
    assert found, stdout
    recording, segments = found.group(1), int(found.group(2))
    assert segments >= 3
    assembled = subprocess.run(
        [str(BIN / "callreel-vault"), "assemble", "--identity", str(identity_path),
         "--spool", str(spool), "--recording", recording, "--out", str(tmp_path / "out.webm")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert assembled.returncode == 0, assembled.stderr

    data = (tmp_path / "out.webm").read_bytes()
    with av.open(io.BytesIO(data), mode="r") as container:
        frames = [
            np.asarray(frame.to_ndarray(format="rgb24"), dtype=np.uint8)
            for frame in container.decode(video=0)
        ]
    with av.open(io.BytesIO(data), mode="r") as container:
        # Opus decodes to planar float: one row per channel.
        audio = np.concatenate(
            [frame.to_ndarray() for frame in container.decode(audio=0)], axis=1
        ).T.astype(np.float64)
    assert len(frames) >= 3
    for number, rgb in enumerate(frames):
        red, blue = rgb[:, :, 0].astype(int), rgb[:, :, 2].astype(int)
        foreign = (np.minimum(red, blue) > 100).sum()
        assert foreign == 0, f"frame {number}: {foreign} pixels of another window"
    greenish = [(f[:, :, 1] > 150).mean() for f in frames]
    assert max(greenish) > 0.5, "the business window itself should be visible"
    assert min(greenish) < 0.95, "the covering window should have been blacked out"
    # The tone is on the right (caller) channel only.
    tail = audio[len(audio) // 2 :]
    left, right = np.abs(tail[:, 0]).mean(), np.abs(tail[:, 1]).mean()
    assert right > 0.05, (left, right)
    assert left < right / 50, (left, right)
