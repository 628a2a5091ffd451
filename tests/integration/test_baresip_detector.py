"""The baresip and PulseAudio detectors against a real baresip answering a real sipp call."""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from agent.detect.baresip_ctrl import BaresipDetector
from agent.detect.base import CallSignal, UntrustedSource
from agent.detect.netstring import encode
from agent.detect.pulse_streams import PulseStreamDetector
from agent.detect.trusted_process import Softphone
from testbed.ports import free_port
from testbed.pulse import PulseServer
from tests.helpers.impostor import impostor_listening
from tests.helpers.softphone import Baresip, Signals, place_call, running_baresip

ROUNDS = 3
"""Each softphone test runs this often: timing-dependent flakiness shows up here first."""


@pytest.fixture
def baresip(tmp_path: Path, sound_server: PulseServer) -> Iterator[Baresip]:
    with running_baresip(
        tmp_path, sound_server, sip_port=free_port(), ctrl_port=free_port()
    ) as phone:
        yield phone


def _detectors(
    phone: Baresip, pulse: PulseServer
) -> tuple[BaresipDetector, Signals, PulseStreamDetector, Signals]:
    ctrl = BaresipDetector("127.0.0.1", phone.ctrl_port, Softphone.from_setting("baresip"))
    ctrl_signals = Signals()
    ctrl.start(ctrl_signals)
    streams = PulseStreamDetector(
        Softphone.from_setting("baresip"), server=pulse.env["PULSE_SERVER"]
    )
    stream_signals = Signals()
    streams.start(stream_signals)
    # ctrl_tcp only reports events to connections open at the time.
    deadline = time.monotonic() + 5
    while not _connected_clients(phone):
        assert time.monotonic() < deadline, "baresip detector did not connect"
        time.sleep(0.02)
    return ctrl, ctrl_signals, streams, stream_signals


def _connected_clients(phone: Baresip) -> bool:
    return any(
        connection.laddr and connection.laddr[1] == phone.ctrl_port and connection.raddr
        for connection in psutil.Process(phone.pid).net_connections("tcp")
    )


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_call_established_and_closed_at_bye(
    baresip: Baresip, sound_server: PulseServer, tmp_path: Path, round_: int
) -> None:
    ctrl, ctrl_signals, streams, stream_signals = _detectors(baresip, sound_server)
    call = place_call(baresip.sip_port, seconds=2.0, root=tmp_path / "sipp")
    try:
        ((_, off),) = ctrl_signals.wait_for(1, timeout=10)
        assert off.off_hook
        assert off.reason == "CALL_ESTABLISHED"
        assert off.call_id is not None
        assert off.call_id.endswith("@127.0.0.1")
        ((_, stream_off),) = stream_signals.wait_for(1, timeout=5)
        assert stream_off.off_hook
        bye_at = call.wait_for_bye(timeout=15)
        (_, (ctrl_at, on)) = ctrl_signals.wait_for(2, timeout=5)
        assert on.off_hook is False
        assert on.call_id == off.call_id
        assert on.reason.startswith("CALL_CLOSED")
        (_, (stream_at, stream_on)) = stream_signals.wait_for(2, timeout=5)
        assert stream_on.off_hook is False
        assert stream_on.call_id == stream_off.call_id
        assert stream_on.reason.endswith("closed")
        assert 0 <= ctrl_at - bye_at < 0.5
        assert -0.05 <= stream_at - bye_at < 0.5
        answered = call.answered_at()
        assert answered is not None
        assert 1.9 < bye_at - answered < 3.0
        assert call.wait(timeout=10) == 0, call.output()
    finally:
        call.stop()
        ctrl.stop()
        streams.stop()


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_killed_baresip_ends_the_call_for_both_detectors(
    baresip: Baresip, sound_server: PulseServer, tmp_path: Path, round_: int
) -> None:
    ctrl, ctrl_signals, streams, stream_signals = _detectors(baresip, sound_server)
    call = place_call(baresip.sip_port, seconds=30.0, root=tmp_path / "sipp")
    try:
        ((_, off),) = ctrl_signals.wait_for(1, timeout=10)
        ((_, stream_off),) = stream_signals.wait_for(1, timeout=5)
        killed_at = time.time()
        baresip.kill()
        (_, (ctrl_at, on)) = ctrl_signals.wait_for(2, timeout=5)
        assert on == CallSignal(False, off.call_id, "baresip", "baresip connection lost")
        (_, (stream_at, stream_on)) = stream_signals.wait_for(2, timeout=5)
        assert stream_on.off_hook is False
        assert stream_on.call_id == stream_off.call_id
        assert ctrl_at - killed_at < 0.5
        assert stream_at - killed_at < 0.5
    finally:
        call.stop()
        ctrl.stop()
        streams.stop()
    assert len(ctrl_signals.items) == 2
    assert len(stream_signals.items) == 2


class _FakeCtrl:
    """A ctrl_tcp stand-in for input baresip would never send (malformed netstrings)."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.server.getsockname()[1])
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            self.accepted.append(connection)

    def wait_for_clients(self, count: int) -> socket.socket:
        deadline = time.monotonic() + 5
        while len(self.accepted) < count:
            assert time.monotonic() < deadline, f"expected {count} connections"
            time.sleep(0.01)
        return self.accepted[count - 1]

    def close(self) -> None:
        self.server.close()
        for connection in self.accepted:
            connection.close()


def test_malformed_input_reconnects_and_unknown_events_are_ignored() -> None:
    fake = _FakeCtrl()
    # The stand-in runs in this process, so this interpreter is "the softphone" here.
    detector = BaresipDetector("127.0.0.1", fake.port, Softphone.from_setting(sys.executable))
    signals = Signals()
    detector.start(signals)
    try:
        first = fake.wait_for_clients(1)
        first.sendall(
            encode(b'{"event":true,"type":"CALL_INCOMING","id":"x"}')
            + encode(b'{"response":true,"ok":true,"data":""}')
            + encode(b'{"event":true,"type":"CALL_ESTABLISHED","id":"x"}')
        )
        ((_, off),) = signals.wait_for(1, timeout=5)
        assert off == CallSignal(True, "x", "baresip", "CALL_ESTABLISHED")
        first.sendall(b"12:not a netstring at all")
        (_, (_, on)) = signals.wait_for(2, timeout=5)
        assert on == CallSignal(False, "x", "baresip", "baresip connection lost")
        second = fake.wait_for_clients(2)
        second.sendall(encode(b"not json"))
        fake.wait_for_clients(3)
        assert len(signals.items) == 2
    finally:
        started = time.monotonic()
        detector.stop()
        assert time.monotonic() - started < 1.0
        fake.close()


def test_another_users_process_on_the_port_is_not_heard() -> None:
    port = free_port()
    detector = BaresipDetector("127.0.0.1", port, Softphone.from_setting("baresip"))
    signals = Signals()
    with impostor_listening(port) as impostor_pid:
        detector.start(signals)
        try:
            ((_, first),) = signals.wait_for_any(1, timeout=10)
            time.sleep(3.0)  # retries meanwhile, every two seconds at most
        finally:
            detector.stop()
    assert isinstance(first, UntrustedSource), first
    assert f"process {impostor_pid} runs as uid" in first.problem
    assert signals.items == [first], "no call, and the refusal is reported once"


def test_this_users_other_program_on_the_port_is_not_heard() -> None:
    fake = _FakeCtrl()
    detector = BaresipDetector("127.0.0.1", fake.port, Softphone.from_setting("baresip"))
    signals = Signals()
    detector.start(signals)
    try:
        fake.wait_for_clients(1).sendall(
            encode(b'{"event":true,"type":"CALL_ESTABLISHED","id":"x"}')
        )
        ((_, first),) = signals.wait_for_any(1, timeout=5)
        time.sleep(1.0)
    finally:
        detector.stop()
        fake.close()
    assert isinstance(first, UntrustedSource), first
    assert "not the softphone /usr/bin/baresip" in first.problem
    assert signals.items == [first]


def test_a_sip_port_taken_meanwhile_is_replaced_by_a_free_one(
    tmp_path: Path, sound_server: PulseServer
) -> None:
    """Ports are picked before baresip binds them (and SIP over TLS takes the next one too):
    another process may take one in between, as happened once in a full run."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken_tls = squatter.getsockname()[1]
        with running_baresip(
            tmp_path, sound_server, sip_port=taken_tls - 1, ctrl_port=free_port()
        ) as phone:
            assert phone.sip_port != taken_tls - 1
            assert phone.process.poll() is None
