"""Call audio on real PulseAudio and PipeWire servers: microphone left, caller right, nothing
crossed, at the level the tone was played, and doctor naming the source each channel records."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from typing import Any

import pytest

from testbed.pulse import PulseServer
from tests.helpers.data import REPO_ROOT as ROOT

TONE_AMPLITUDE = 16384.0


def _record_two_tones(pulse_server: PulseServer, devices: str) -> dict[str, Any]:
    recorder = subprocess.Popen(
        [sys.executable, "-m", "tests.children.audio_capture_child", "5", "2.5", "4.0", devices],
        cwd=ROOT,
        env=pulse_server.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert recorder.stdout is not None
    assert recorder.stdout.readline().strip() == "started"
    caller = pulse_server.play_tone("callsink", 1000, 4.5)
    agent = pulse_server.play_tone("micsink", 440, 4.5)
    stdout, stderr = recorder.communicate(timeout=60)
    assert caller.wait(timeout=30) == 0
    assert agent.wait(timeout=30) == 0
    assert recorder.returncode == 0, stderr
    report: dict[str, Any] = json.loads(stdout)
    return report


def _assert_microphone_left_caller_right(report: dict[str, Any]) -> None:
    # Tones are played at half full scale (16384 peak); about 10000-13000 arrive in the window
    # here. A crossed channel measured about 10, so 1/100 leaves room and still means silence.
    assert report["left_440"] > 5_000, report
    assert report["right_1000"] > 5_000, report
    assert report["left_1000"] < report["left_440"] / 100, report
    assert report["right_440"] < report["right_1000"] / 100, report


@pytest.mark.parametrize(
    ("devices", "streams"), [("named", "PortAudio"), ("server", "sound server")]
)
def test_microphone_goes_left_and_caller_goes_right(
    sound_server: PulseServer, devices: str, streams: str
) -> None:
    """ALSA device names go through PortAudio; the sound server's source names are read from
    the server itself (agent/capture/audio/pulse_stream.py). Same channels either way."""
    report = _record_two_tones(sound_server, devices)
    assert report["streams"] == streams
    # Exactly the recorded span, whatever the devices delivered (gaps became silence).
    assert abs(report["frames"] - report["expected_frames"]) < 48_000 * 0.15
    _assert_microphone_left_caller_right(report)


def test_without_named_devices_the_defaults_are_the_default_input_and_output_monitor(
    sound_server: PulseServer,
) -> None:
    """What a softphone set to the system's defaults gives, with no device in policy."""
    for setting, device in (("set-default-sink", "callsink"), ("set-default-source", "virtmic")):
        subprocess.run(["pactl", setting, device], env=sound_server.env, check=True, timeout=10)
    report = _record_two_tones(sound_server, "defaults")
    assert report["streams"] == "sound server"
    _assert_microphone_left_caller_right(report)
    # At the level the tones were played (sox vol 0.5: amplitude 16384), on both servers:
    # PulseAudio's downmix averages, PipeWire's would add 3 dB.
    for level in (report["left_440_median"], report["right_1000_median"]):
        assert abs(20 * math.log10(level / TONE_AMPLITUDE)) < 0.5, report
