"""The sound-server stream detector against private PulseAudio and PipeWire servers.

pacat stands in for the softphone: `parecord` and `paplay` are both the pacat binary, so
application.process.binary is "pacat" for a recording and a playback stream alike, and only
the kind of stream tells a call from ringing.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from agent.detect.base import CallSignal, UntrustedSource
from agent.detect.pulse_streams import PulseStreamDetector
from agent.detect.trusted_process import Softphone
from testbed.pipewire import running_pipewire_server
from testbed.pulse import PulseServer, running_pulse_server
from tests.helpers.softphone import Signals


@pytest.fixture
def detector(sound_server: PulseServer) -> Iterator[tuple[PulseStreamDetector, Signals]]:
    pulse_server = sound_server
    detector = PulseStreamDetector(
        Softphone.from_setting("pacat"), server=pulse_server.env["PULSE_SERVER"]
    )
    signals = Signals()
    detector.start(signals)
    try:
        yield detector, signals
    finally:
        started = time.monotonic()
        detector.stop()
        assert time.monotonic() - started < 1.0


def _recorder(pulse: PulseServer, tmp_path: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["parecord", "--device=virtmic", "--raw", str(tmp_path / "mic.raw")], env=pulse.env
    )


def test_recording_stream_is_a_call_and_playback_is_not(
    detector: tuple[PulseStreamDetector, Signals], sound_server: PulseServer, tmp_path: Path
) -> None:
    pulse_server = sound_server
    _, signals = detector
    ringing = subprocess.Popen(
        ["pacat", "--playback", "--device=callsink", "--raw"],
        env=pulse_server.env,
        stdin=subprocess.PIPE,
    )
    try:
        assert ringing.stdin is not None
        ringing.stdin.write(b"\0" * 48000)
        ringing.stdin.flush()
        time.sleep(0.8)
        assert signals.items == []
    finally:
        ringing.kill()
        ringing.communicate()

    started_at = time.time()
    recorder = _recorder(pulse_server, tmp_path)
    try:
        ((arrived, off),) = signals.wait_for(1, timeout=5)
        assert off.off_hook
        assert off.detector == "pulse"
        assert off.call_id is not None
        assert off.call_id.startswith("pulse-")
        assert arrived - started_at < 2.0
    finally:
        killed_at = time.time()
        recorder.kill()
        recorder.wait()
    (_, (arrived, on)) = signals.wait_for(2, timeout=5)
    assert on == CallSignal(
        False, off.call_id, "pulse", f"recording stream {off.call_id[6:]} closed"
    )
    assert arrived - killed_at < 0.5


def test_other_programs_recording_are_ignored(sound_server: PulseServer, tmp_path: Path) -> None:
    pulse_server = sound_server
    detector = PulseStreamDetector(
        Softphone.from_setting("baresip"), server=pulse_server.env["PULSE_SERVER"]
    )
    signals = Signals()
    detector.start(signals)
    recorder = _recorder(pulse_server, tmp_path)
    try:
        time.sleep(0.8)
        assert signals.items == []
    finally:
        recorder.kill()
        recorder.wait()
        detector.stop()


@pytest.mark.parametrize("start_server", [running_pulse_server, running_pipewire_server])
def test_server_loss_ends_the_call(
    tmp_path: Path, start_server: Callable[[Path], AbstractContextManager[PulseServer]]
) -> None:
    (tmp_path / "server").mkdir()
    with start_server(tmp_path / "server") as pulse:
        detector = PulseStreamDetector(
            Softphone.from_setting("pacat"), server=pulse.env["PULSE_SERVER"]
        )
        signals = Signals()
        detector.start(signals)
        recorder = _recorder(pulse, tmp_path)
        try:
            ((_, off),) = signals.wait_for(1, timeout=5)
            assert off.off_hook
            pulse.kill_sound_server()
            (_, (_, on)) = signals.wait_for(2, timeout=5)
            assert on == CallSignal(False, off.call_id, "pulse", "audio server connection lost")
        finally:
            recorder.kill()
            recorder.wait()
            started = time.monotonic()
            detector.stop()
            assert time.monotonic() - started < 1.0


def test_a_stream_that_only_claims_to_be_the_softphone_is_not_a_call(
    sound_server: PulseServer, tmp_path: Path
) -> None:
    pulse_server = sound_server
    detector = PulseStreamDetector(
        Softphone.from_setting("baresip"), server=pulse_server.env["PULSE_SERVER"]
    )
    signals = Signals()
    detector.start(signals)
    # The names a client gives itself: what the detector used to go by.
    forged = {"PULSE_PROP": "application.process.binary=baresip application.name=baresip"}
    recorder = subprocess.Popen(
        ["parecord", "--device=virtmic", "--raw", str(tmp_path / "mic.raw")],
        env={**pulse_server.env, **forged},
    )
    try:
        ((_, refused),) = signals.wait_for_any(1, timeout=5)
        time.sleep(0.8)
    finally:
        recorder.kill()
        recorder.wait()
        detector.stop()
    assert isinstance(refused, UntrustedSource), refused
    assert f"process {recorder.pid} runs /usr/bin/pacat" in refused.problem
    assert signals.items == [refused], "no call, and the refusal is reported once"


def test_a_native_pipewire_client_is_detected_by_its_client(
    pipewire_server: PulseServer, tmp_path: Path
) -> None:
    # pw-record talks to PipeWire itself, not through libpulse: its program and pid are on
    # its client object only, and the pid is the one PipeWire took from the socket.
    softphone = Softphone.from_setting("pw-record")
    detector = PulseStreamDetector(softphone, server=pipewire_server.env["PULSE_SERVER"])
    signals = Signals()
    detector.start(signals)
    recorder = subprocess.Popen(
        ["pw-record", "--target", "virtmic", str(tmp_path / "mic.wav")], env=pipewire_server.env
    )
    try:
        ((_, off),) = signals.wait_for(1, timeout=5)
        assert off.off_hook
    finally:
        recorder.kill()
        recorder.wait()
    (_, (_, on)) = signals.wait_for(2, timeout=5)
    assert not on.off_hook
    detector.stop()
