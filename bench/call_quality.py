"""Does recording hurt the call? The softphone's own counters, recorded at 1920x1080 or not.

    .venv/bin/python bench/call_quality.py [--seconds 60] [--rounds 2] [--size 1920x1080]

A private Xvfb of `--size` shows the scripted order desk of bench/scripted_desktop.py
fullscreen (someone typing); a private PulseAudio carries the call. baresip, the softphone of
the tests (tests/helpers/softphone.py: G.711, audio through ALSA's pulse plugin), auto-answers
calls from sipp: it plays the caller (a 1 kHz tone) into `callsink` and sends the microphone,
`virtmic`, fed a 440 Hz tone through `micsink`. Calls of `--seconds` follow each other on the
same desktop and sound server, unrecorded and recorded in turn (`--rounds` of each): recorded
means `callreel-agent record` as shipped, the business window at the full size, H.264, both
sides of the call from the sound server, sealed and spooled.

Two seconds before each call ends, baresip's `audio_debug` (over ctrl_tcp) gives its own
counters: underruns and overruns of the buffer the player reads the caller from (an underrun is
a gap the agent hears) and of the microphone's buffer the encoder reads; RTCP's lost packets
and interarrival jitter of the caller's stream; the jitter buffer's depth. Also the recorder's
CPU over its call. A few minutes; needs a quiet machine; stays out of CI.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
from machine import cpu_model
from scripted_desktop import WINDOW_TITLE, scripted_desktop

from agent.detect.netstring import NetstringDecoder, encode
from testbed.ports import free_port
from testbed.programs import stop_processes
from testbed.pulse import running_pulse_server
from tests.helpers.softphone import Baresip, place_call, running_baresip

BIN = Path(sys.executable).parent
CALLER_HZ = 1000.0
AGENT_HZ = 440.0
AUBUF = re.compile(r"aubuf: .*?\(cur ([\d.]+)ms, max ([\d.]+)ms, or (\d+), ur (\d+)\)")
RTCP = re.compile(r"lost=(-?\d+) Jitter=([\d.]+)ms")
JITTER_BUFFER = re.compile(r"min=(\d+) cur=(\d+) max=(\d+) \[frames\]")


@dataclass(frozen=True)
class CallCounters:
    recorded: bool
    player_underruns: int
    player_overruns: int
    microphone_underruns: int
    microphone_overruns: int
    lost: int
    jitter_ms: float
    jitter_buffer: str
    recorder_cpu_percent: float | None


def audio_debug(ctrl_port: int) -> str:
    """baresip's `audio_debug` output, asked over ctrl_tcp."""
    request = {"command": "audio_debug", "params": "", "token": "bench"}
    decoder = NetstringDecoder()
    with socket.create_connection(("127.0.0.1", ctrl_port), timeout=5) as connection:
        connection.sendall(encode(json.dumps(request).encode()))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            for payload in decoder.feed(connection.recv(65536)):
                message = json.loads(payload)
                if message.get("response") and message.get("token") == "bench":
                    return str(message.get("data", ""))
    raise RuntimeError("baresip did not answer audio_debug")


def counters(text: str, recorded: bool, recorder_cpu: float | None) -> CallCounters:
    buffers = AUBUF.findall(text)
    rtcp = RTCP.search(text)
    depth = JITTER_BUFFER.search(text)
    if len(buffers) != 2 or rtcp is None:
        raise RuntimeError(f"unexpected audio_debug output:\n{text}")
    (_, _, mic_over, mic_under), (_, _, play_over, play_under) = buffers
    return CallCounters(
        recorded,
        player_underruns=int(play_under),
        player_overruns=int(play_over),
        microphone_underruns=int(mic_under),
        microphone_overruns=int(mic_over),
        lost=int(rtcp.group(1)),
        jitter_ms=float(rtcp.group(2)),
        jitter_buffer="-" if depth is None else "/".join(depth.groups()),
        recorder_cpu_percent=recorder_cpu,
    )


def recorder(work: Path, keys: Path, seconds: float, size: tuple[int, int]) -> list[str]:
    return [
        str(BIN / "callreel-agent"), "record", "--window", f"^{WINDOW_TITLE}$",
        "--seconds", f"{seconds:g}", "--recipient", str(keys / "vault-recipient.pub"),
        "--spool", str(work), "--microphone", "virtmic", "--far-end", "callsink.monitor",
        "--codec", "h264", "--width", str(size[0]), "--height", str(size[1]),
    ]  # fmt: skip


def wait_started(process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while b"started" not in log.read_bytes():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the recorder did not start: {log.read_text()[-2000:]}")
        time.sleep(0.05)


def one_call(
    work: Path, env: dict[str, str], phone: Baresip, *, keys: Path | None, args: argparse.Namespace
) -> CallCounters:
    process: subprocess.Popen[bytes] | None = None
    cpu_before = 0.0
    if keys is not None:
        log = work / "recorder.log"
        with log.open("wb") as output:
            process = subprocess.Popen(  # noqa: S603 - the agent's own command
                recorder(work / "spool", keys, args.seconds + 15, args.size),
                env=env, stdout=output, stderr=subprocess.STDOUT,
            )  # fmt: skip
        wait_started(process, log)
        times = psutil.Process(process.pid).cpu_times()
        cpu_before = times.user + times.system
    try:
        began = time.monotonic()
        caller = work / "call"
        call = place_call(phone.sip_port, seconds=args.seconds, root=caller, tone_hz=CALLER_HZ)
        time.sleep(args.seconds - 2)
        recorder_cpu = None
        if process is not None:
            times = psutil.Process(process.pid).cpu_times()
            used = times.user + times.system - cpu_before
            recorder_cpu = used / (time.monotonic() - began) * 100
        text = audio_debug(phone.ctrl_port)
        call.wait(timeout=60)
    finally:
        if process is not None:
            stop_processes([process], timeout=10)
    return counters(text, keys is not None, recorder_cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--size",
        type=lambda text: tuple(int(part) for part in text.split("x")),
        default=(1920, 1080),
        metavar="WxH",
    )
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPUs, {cpu_model()}; Python {sys.version.split()[0]}")
    results: list[CallCounters] = []
    with tempfile.TemporaryDirectory(prefix="crb-call-", dir="/tmp") as temporary:
        base = Path(temporary)
        for directory in ("x", "pulse", "keys"):
            (base / directory).mkdir()
        subprocess.run(  # noqa: S603 - the vault's own command
            [str(BIN / "callreel-vault"), "keygen", "--out", str(base / "keys" / "k")],
            check=True, capture_output=True,
        )  # fmt: skip
        script_seconds = args.rounds * 2 * (args.seconds + 30) + 60
        with (
            scripted_desktop(base / "x", script_seconds, fullscreen=True, size=args.size) as desk,
            running_pulse_server(base / "pulse") as pulse,
            running_baresip(
                base / "baresip", pulse, sip_port=free_port(), ctrl_port=free_port()
            ) as phone,
        ):
            env = {**pulse.env, "DISPLAY": desk.display}
            microphone = pulse.play_tone("micsink", AGENT_HZ, script_seconds)
            try:
                for number in range(args.rounds * 2):
                    recorded = number % 2 == 1
                    work = base / f"call-{number}"
                    work.mkdir()
                    keys = base / "keys" / "k" if recorded else None
                    print(f"call {number + 1}: {'recorded' if recorded else 'not recorded'}")
                    results.append(one_call(work, env, phone, keys=keys, args=args))
            finally:
                stop_processes([microphone], timeout=5)
    print()
    print(f"{args.seconds:g} s calls; the recorder at {args.size[0]}x{args.size[1]}")
    print()
    print(
        "| call | player underruns / overruns | microphone underruns / overruns"
        " | RTCP lost | RTCP jitter ms | jitter buffer min/cur/max | recorder CPU % |"
    )
    print("|---|---:|---:|---:|---:|---|---:|")
    for result in results:
        cpu = "-" if result.recorder_cpu_percent is None else f"{result.recorder_cpu_percent:.1f}"
        print(
            f"| {'recorded' if result.recorded else 'not recorded'}"
            f" | {result.player_underruns} / {result.player_overruns}"
            f" | {result.microphone_underruns} / {result.microphone_overruns}"
            f" | {result.lost} | {result.jitter_ms:.1f} | {result.jitter_buffer} | {cpu} |"
        )


if __name__ == "__main__":
    main()
