"""A/V offset of a real recording: a flash on screen and a click in audio at the same instant.

`tests.children.av_sync_probe` flashes the business window white and plays a click into the
call sink at the same instants on its audio output clock. `callreel-agent record` records at 20 fps
(50 ms between grabs), and `callreel-vault assemble` joins the recording. In the decoded file
each click (plus the few milliseconds the probe measured between it and drawing the flash) must
fall between the last dark frame and the first white frame of its flash, give or take 80 ms: a
larger A/V offset would push it out of that bracket.
"""

from __future__ import annotations

import io
import itertools
import json
import re
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from protocol.keys import VaultIdentity, write_key_pair
from testbed.pulse import PulseServer
from testbed.x_display import XServer
from tests.helpers.data import REPO_ROOT as ROOT

BIN = Path(sys.executable).parent
FLASHES = 4
FPS = 20
MAX_OFFSET_S = 0.080
WIDTH, HEIGHT = 640, 400
STRIP_HEIGHT = 24  # the probe's ever-changing bottom strip is not part of the flash


def _frame_brightness(data: bytes) -> list[tuple[float, float]]:
    """(time, mean luma of the flash area) of every decoded video frame."""
    with av.open(io.BytesIO(data), mode="r") as container:
        return [
            (
                float(frame.time or 0.0),
                float(frame.to_ndarray(format="gray")[: HEIGHT - STRIP_HEIGHT].mean()),
            )
            for frame in container.decode(video=0)
        ]


def _click_times(data: bytes) -> list[float]:
    """Start time of each click on the right (caller) channel."""
    times: list[float] = []
    with av.open(io.BytesIO(data), mode="r") as container:
        for frame in container.decode(audio=0):
            right = np.asarray(frame.to_ndarray(), dtype=np.float64)[1]
            loud = np.flatnonzero(np.abs(right) > 0.2)
            if not len(loud):
                continue
            at = float(frame.time or 0.0) + int(loud[0]) / frame.sample_rate
            if not times or at - times[-1] > 0.5:
                times.append(at)
    return times


def _flash_brackets(brightness: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """(time of the last dark frame, time of the first white frame) of each flash."""
    brackets = []
    for (dark_at, dark), (white_at, white) in itertools.pairwise(brightness):
        if dark < 64 and white > 192:
            brackets.append((dark_at, white_at))
    return brackets


@pytest.mark.parametrize(
    "devices",
    [("callreel_mic", "callreel_farend"), ("virtmic", "callsink.monitor")],
    ids=["PortAudio", "sound server"],
)
def test_a_flash_and_a_click_at_the_same_instant_stay_within_80_ms(
    x_display: XServer, pulse_server: PulseServer, tmp_path: Path, devices: tuple[str, str]
) -> None:
    """Through PortAudio (ALSA device names) and read from the sound server (its own names)."""
    identity_path, recipient_path = write_key_pair(VaultIdentity.generate(), tmp_path / "keys")
    env = {**pulse_server.env, "DISPLAY": x_display.display, "PULSE_SINK": "callsink"}
    probe = subprocess.Popen(
        [sys.executable, "-m", "tests.children.av_sync_probe",
         "--geometry", f"{WIDTH}x{HEIGHT}+100+100",
         "--title", "CRM - av sync", "--flashes", str(FLASHES)],
        env=env, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        _record_flashes(probe, recipient_path, identity_path, env, tmp_path, devices=devices)
    finally:
        probe.kill()
        probe.communicate()


def _record_flashes(
    probe: subprocess.Popen[str],
    recipient_path: Path,
    identity_path: Path,
    env: dict[str, str],
    tmp_path: Path,
    *,
    devices: tuple[str, str],
) -> None:
    microphone, far_end = devices
    assert probe.stdout is not None
    assert probe.stdin is not None
    assert probe.stdout.readline().strip() == "ready"
    recorder = subprocess.Popen(
        [str(BIN / "callreel-agent"), "record", "--window", "^CRM - av sync$", "--seconds", "8",
         "--recipient", str(recipient_path), "--spool", str(tmp_path / "spool"),
         "--microphone", microphone, "--far-end", far_end, "--fps", str(FPS),
         "--width", str(WIDTH), "--height", str(HEIGHT), "--segment-seconds", "2"],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert recorder.stdout is not None
    started = recorder.stdout.readline()
    assert "started" in started, started + recorder.communicate(timeout=60)[1]
    probe.stdin.write("go\n")
    probe.stdin.flush()
    lateness = json.loads(probe.stdout.readline())["draw_lateness_s"]
    rest, stderr = recorder.communicate(timeout=120)
    assert recorder.returncode == 0, started + rest + stderr
    recording = re.search(r"recording ([0-9a-f-]{36})", started)
    assert recording, started
    out = tmp_path / "out.webm"
    assembled = subprocess.run(
        [str(BIN / "callreel-vault"), "assemble", "--identity", str(identity_path),
         "--spool", str(tmp_path / "spool"), "--recording", recording.group(1),
         "--out", str(out)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert assembled.returncode == 0, assembled.stderr

    data = out.read_bytes()
    brightness = _frame_brightness(data)
    brackets = _flash_brackets(brightness)
    clicks = _click_times(data)
    assert max(lateness) < 0.3, f"the probe drew a flash very late: {lateness}"
    assert len(brackets) == FLASHES, (
        f"flashes seen in the video: {brackets}; brightness {[round(b) for _, b in brightness]}"
    )
    assert len(clicks) == FLASHES, f"clicks heard on the right channel: {clicks}"
    # A busy machine may draw a flash a little after its click: the probe measured by how
    # much, so the flash is expected that much after the click, not at the same time.
    flashes = [click + late for click, late in zip(clicks, lateness, strict=True)]
    report = [
        f"flash {flash:.3f} s (click + {late * 1000:.1f} ms), last dark {dark:.3f} s,"
        f" first white {white:.3f} s, offset {flash - (dark + white) / 2:+.3f} s"
        f" +- {(white - dark) / 2:.3f}"
        for flash, late, (dark, white) in zip(flashes, lateness, brackets, strict=True)
    ]
    print(rest)
    print("\n".join(report))
    for flash, (dark, white), line in zip(flashes, brackets, report, strict=True):
        assert dark - MAX_OFFSET_S <= flash <= white + MAX_OFFSET_S, line
