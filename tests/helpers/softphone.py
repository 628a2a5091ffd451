"""A real softphone for tests: baresip on the private PulseAudio server, called by sipp.

- `running_baresip(root, pulse, sip_port=, ctrl_port=)` starts baresip 1.0 with its own
  config dir under `root`: SIP on 127.0.0.1:<sip_port> (UDP and TCP), ctrl_tcp on
  127.0.0.1:<ctrl_port>, account `<sip:agent@127.0.0.1:<sip_port>>;regint=0;answermode=auto`,
  G.711 only, audio through ALSA's `pulse` plugin: it plays the caller (and the ring tone) to
  `callsink`, whose monitor is the agent's far end, and records the microphone from
  `virtmic`. It yields once ctrl_tcp accepts connections.
- `place_call(target_port, seconds=, root=)` runs sipp (scenario tests/sipp/uac_hold.xml): it
  calls sip:agent@127.0.0.1:<target_port>, plays a pcap as the caller's RTP audio once
  answered, holds the call for `seconds`, then sends BYE. `SippCall` tells when the call was
  answered and when the BYE went out (wall-clock `time.time()` seconds, from sipp's message
  log), and waits for sipp to finish.
- `free_port()` finds a port free for both UDP and TCP on 127.0.0.1.

Facts measured with this setup (baresip 1.0, PulseAudio 16, sipp 3.6.1):
- Ringing (answermode=manual, before answering): baresip owns one *playback* stream
  (sink-input, "ALSA Playback", s16le 1ch 8000 Hz, application.process.binary="baresip") for
  the ring tone, and no recording stream. With answermode=auto it answers within ~10 ms, so
  the ringing stream barely exists.
- In a call: one playback stream (sink-input on callsink, s16le 1ch 8000 Hz) and one
  *recording* stream (source-output from virtmic, s16le 1ch 8000 Hz), both with
  application.process.binary="baresip" and application.name="ALSA plug-in [baresip]". Both
  close when the call ends.
- ctrl_tcp events in order for an auto-answered call: CALL_REMOTE_SDP, CALL_LOCAL_SDP,
  CALL_ESTABLISHED, CALL_RTPESTAB, then CALL_CLOSED at the BYE; `id` is the SIP Call-ID
  (sipp's `1-<pid>@127.0.0.1`). With manual answer CALL_INCOMING comes first.
- /usr/share/sip-tester/g711a.pcap is NOT a tone: it is 236 RTP packets (payload type 8,
  PCMA, 8 kHz, 20 ms each; 7.08 s) of recorded speech: ~1 s of near-silence (RMS ~150 of
  32768), speech 1.0-4.6 s and 5.1-7.08 s (RMS ~1500-3500, pitch ~100-200 Hz, energy mostly
  below 1 kHz). It only suits "is there sound" checks. For a frequency check pass
  `tone_hz=`: `place_call` then writes its own pcap, a sine of that frequency at -6 dBFS
  (A-law) lasting the whole call, which lands on callsink as that tone (resampled 8 -> 48 kHz
  by PulseAudio; keep the frequency below 3.4 kHz).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from agent.detect.base import CallSignal, UntrustedSource
from testbed.ports import free_port
from testbed.programs import stop_processes
from testbed.pulse import PulseServer
from tests.helpers.data import DATA

SCENARIO = DATA / "sipp" / "uac_hold.xml"
G711A_PCAP = Path("/usr/share/sip-tester/g711a.pcap")
START_TIMEOUT = 10.0
_PACKET_SAMPLES = 160
"""20 ms of 8 kHz audio per RTP packet, as in g711a.pcap."""


def _require(tool: str, package: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is missing: install the Debian package {package} (scripts/setup dev)")
    return path


@dataclass
class Baresip:
    process: subprocess.Popen[bytes]
    config_dir: Path
    sip_port: int
    ctrl_port: int
    log_file: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def ctrl_address(self) -> str:
        return f"127.0.0.1:{self.ctrl_port}"

    def kill(self) -> None:
        """SIGKILL, as a crash: no CALL_CLOSED, no goodbye to PulseAudio or the caller."""
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=START_TIMEOUT)

    def log(self) -> str:
        return self.log_file.read_text(errors="replace")


def _baresip_config(sip_port: int, ctrl_port: int) -> str:
    return f"""\
poll_method             epoll
sip_listen              127.0.0.1:{sip_port}
net_interface           127.0.0.1
call_max_calls          4
audio_player            alsa,pulse:callsink
audio_source            alsa,pulse:virtmic
audio_alert             alsa,pulse:callsink
audio_buffer            20-160
rtp_ports               10000-60000
module_path             /usr/lib/baresip/modules
module                  g711.so
module                  alsa.so
module_tmp              account.so
# menu.so implements answermode=auto.
module_app              menu.so
module                  ctrl_tcp.so
ctrl_tcp_listen         127.0.0.1:{ctrl_port}
"""


def _ctrl_accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class _SipPortTakenError(Exception):
    """baresip found its SIP port, or the TLS port after it, taken by another process."""


def _free_sip_port() -> int:
    """A port free together with the one after it, which baresip takes for SIP over TLS."""
    while True:
        port = free_port()
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port


@contextlib.contextmanager
def running_baresip(
    root: Path, pulse: PulseServer, *, sip_port: int, ctrl_port: int
) -> Iterator[Baresip]:
    """baresip auto-answering on `sip_port` (or, if another process took it or the TLS port
    after it meanwhile, on a fresh one: see `Baresip.sip_port`), ctrl_tcp on `ctrl_port`;
    stopped on exit."""
    baresip = _require("baresip", "baresip")
    for attempt in range(3):
        port = sip_port if attempt == 0 else _free_sip_port()
        try:
            config_dir = root / ("baresip" if attempt == 0 else f"baresip-{attempt}")
            phone = _start_baresip(baresip, config_dir, pulse, port, ctrl_port)
        except _SipPortTakenError:
            continue
        try:
            yield phone
        finally:
            stop_processes([phone.process], timeout=5.0)
        return
    pytest.fail("baresip found its SIP port taken three times running")


def _start_baresip(
    baresip: str, config_dir: Path, pulse: PulseServer, sip_port: int, ctrl_port: int
) -> Baresip:
    config_dir.mkdir(parents=True)
    (config_dir / "config").write_text(_baresip_config(sip_port, ctrl_port))
    (config_dir / "accounts").write_text(
        f"<sip:agent@127.0.0.1:{sip_port}>;regint=0;answermode=auto\n"
    )
    (config_dir / "contacts").write_text("")
    log_file = config_dir.parent / f"{config_dir.name}.log"
    with log_file.open("wb") as log:
        process = subprocess.Popen(
            [baresip, "-f", str(config_dir)],
            env=pulse.env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    phone = Baresip(process, config_dir, sip_port, ctrl_port, log_file)
    deadline = time.monotonic() + START_TIMEOUT
    while not _ctrl_accepts(ctrl_port):
        if process.poll() is not None or time.monotonic() > deadline:
            stop_processes([process], timeout=5.0)
            said = phone.log()
            taken = re.search(r"bind: Address already in use \(af=\d+, [\d.]+:(\d+)\)", said)
            if taken and int(taken[1]) in (sip_port, sip_port + 1):
                raise _SipPortTakenError
            pytest.fail(f"baresip did not start (status {process.poll()}): {said[-2000:]}")
        time.sleep(0.02)
    return phone


def _alaw(sample: int) -> int:
    """One 16-bit linear sample as G.711 A-law (ITU-T G.711, as in Sun's g711.c)."""
    value = sample >> 3
    mask = 0xD5
    if value < 0:
        mask, value = 0x55, -value - 1
    segment = 0
    while segment < 8 and value > (0x20 << segment) - 1:
        segment += 1
    if segment >= 8:
        return 0x7F ^ mask
    shift = 1 if segment < 2 else segment
    return ((segment << 4) | ((value >> shift) & 0x0F)) ^ mask


def write_tone_pcap(path: Path, frequency: float, seconds: float) -> None:
    """A pcap of PCMA RTP packets (20 ms each) carrying a sine, as sipp's play_pcap_audio reads
    it: Ethernet/IPv4/UDP frames whose timestamps pace the sending."""
    packets = max(1, math.ceil(seconds * 50))
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    for number in range(packets):
        payload = bytes(
            _alaw(round(16383 * math.sin(2 * math.pi * frequency * (number * 160 + i) / 8000)))
            for i in range(_PACKET_SAMPLES)
        )
        rtp = struct.pack("!BBHII", 0x80, 8, number, number * _PACKET_SAMPLES, 0x0CA11) + payload
        udp = struct.pack("!HHHH", 6000, 6000, 8 + len(rtp), 0) + rtp
        ip = struct.pack(
            "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), number & 0xFFFF, 0, 64, 17, 0,
            bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]),
        ) + udp  # fmt: skip
        frame = b"\x00" * 12 + b"\x08\x00" + ip
        usec = number * 20_000
        out += struct.pack("<IIII", usec // 1_000_000, usec % 1_000_000, len(frame), len(frame))
        out += frame
    path.write_bytes(bytes(out))


@dataclass
class SippCall:
    """One sipp call in progress; `root` holds its message log and output."""

    process: subprocess.Popen[bytes]
    root: Path
    message_log: Path
    seconds: float
    stopped: bool = field(default=False, init=False)

    def wait(self, timeout: float) -> int:
        """Wait for sipp to finish; its status is 0 when the call completed (BYE answered)."""
        return self.process.wait(timeout=timeout)

    def answered_at(self) -> float | None:
        """When sipp received the 200 OK to its INVITE (time.time() seconds)."""
        return self._first(received=True, start="SIP/2.0 200", cseq="INVITE")

    def bye_sent_at(self) -> float | None:
        """When sipp first sent its BYE (time.time() seconds), or None if not yet."""
        return self._first(received=False, start="BYE ", cseq="BYE")

    def wait_for_bye(self, timeout: float) -> float:
        deadline = time.monotonic() + timeout
        while (sent := self.bye_sent_at()) is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"sipp sent no BYE within {timeout} s: {self.output()}")
            time.sleep(0.02)
        return sent

    def output(self) -> str:
        errors = self.root / "sipp.err"
        return errors.read_text(errors="replace")[-2000:] if errors.exists() else ""

    def stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            stop_processes([self.process], timeout=5.0)

    def _first(self, *, received: bool, start: str, cseq: str) -> float | None:
        try:
            text = self.message_log.read_text(errors="replace")
        except FileNotFoundError:
            return None
        direction = "message received" if received else "message sent"
        for block in text.split("-" * 47 + " ")[1:]:
            lines = block.splitlines()
            if len(lines) < 4 or direction not in lines[1]:
                continue
            message = [line for line in lines[2:] if line.strip()]
            if not message or not message[0].startswith(start):
                continue
            if not any(line.startswith("CSeq:") and cseq in line for line in message):
                continue
            # sipp stamps each message with local wall-clock time.
            stamp = dt.datetime.strptime(lines[0].strip(), "%Y-%m-%d %H:%M:%S.%f")
            return stamp.timestamp()
        return None


def place_call(
    target_port: int,
    *,
    seconds: float,
    root: Path,
    tone_hz: float | None = None,
) -> SippCall:
    """Start sipp calling sip:agent@127.0.0.1:<target_port>; returns at once.

    The caller's audio is g711a.pcap (speech, 7.08 s, see the module docstring), or a sine of
    `tone_hz` lasting the whole call. The call is held `seconds` after the ACK, then sipp
    sends BYE. `root` (created if missing) receives the scenario, pcap and logs.
    """
    sipp = _require("sipp", "sip-tester")
    root.mkdir(parents=True, exist_ok=True)
    # sipp looks for the pcap next to the scenario; keep both in `root`.
    scenario = root / SCENARIO.name
    shutil.copyfile(SCENARIO, scenario)
    pcap = root / "call.pcap"
    if tone_hz is None:
        shutil.copyfile(G711A_PCAP, pcap)
    else:
        write_tone_pcap(pcap, tone_hz, seconds + 1.0)
    message_log = root / "sipp-messages.log"
    command = [
        sipp, "-sf", str(scenario), "-s", "agent", f"127.0.0.1:{target_port}",
        "-i", "127.0.0.1", "-p", str(free_port()), "-mi", "127.0.0.1", "-mp", str(free_port()),
        "-m", "1", "-l", "1", "-d", str(round(seconds * 1000)),
        "-timeout", f"{math.ceil(seconds) + 30}s", "-timeout_error",
        "-trace_msg", "-message_file", str(message_log), "-nostdin",
    ]  # fmt: skip
    with (root / "sipp.err").open("wb") as errors:
        process = subprocess.Popen(
            command,
            cwd=root,
            env={**os.environ, "TERM": "dumb"},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )
    return SippCall(process, root, message_log, seconds)


class Signals:
    """Collects what a detector emits (its `emit`), with waits instead of sleeps."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._items: list[tuple[float, CallSignal | UntrustedSource]] = []

    def __call__(self, signal: CallSignal | UntrustedSource) -> None:
        with self._changed:
            self._items.append((time.time(), signal))
            self._changed.notify_all()

    @property
    def items(self) -> list[CallSignal | UntrustedSource]:
        with self._lock:
            return [item for _, item in self._items]

    def wait_for_any(
        self, count: int, timeout: float
    ) -> list[tuple[float, CallSignal | UntrustedSource]]:
        """The first `count` items with their time.time() arrival; fails after `timeout`."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._items) >= count, timeout):
                raise AssertionError(f"expected {count} call signals in {timeout} s: {self._items}")
            return self._items[:count]

    def wait_for(self, count: int, timeout: float) -> list[tuple[float, CallSignal]]:
        """`wait_for_any`, where every item must be a call signal: a refused source fails."""
        found = self.wait_for_any(count, timeout)
        calls = [(at, item) for at, item in found if isinstance(item, CallSignal)]
        assert len(calls) == len(found), f"the detector refused its source: {found}"
        return calls
