"""CPU of the agent's call-audio capture alone: read from the sound server, or via PortAudio.

    .venv/bin/python bench/audio_streams.py [--seconds 20] [--rounds 2] [--way NAME ...]

A private PulseAudio (testbed/pulse.py) plays a tone into the far-end sink. For each way a
child process opens `CallAudioCapture` as a recording does, reads it every 200 ms for
`--seconds`, and stops: "sound server" names the server's own sources (`virtmic`,
`callsink.monitor`: agent/capture/audio/pulse_stream.py reads them with libpulse-simple);
"PortAudio" names the ALSA PCMs of the same sources (`callreel_mic`, `callreel_farend`: two
PortAudio streams through ALSA's `pulse` plugin, how every device was read before). The ways
alternate for `--rounds` rounds, since PortAudio's cost moves with the server's state. "sound
server, 20 ms blocks" reads the server as the agent did before its blocks became 40 ms long.

Reported per run: CPU while capturing (user + system of every thread, from /proc, minus what
the child had spent when capture began) per minute, by thread, and the samples delivered,
against a child that only sleeps for the same time in the same run (the interpreter's cost).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from scripted_desktop import REPO_ROOT

from agent.capture.audio.capture import BLOCK_SECONDS
from testbed.process_threads import ThreadCpuSampler
from testbed.pulse import running_pulse_server

DEVICES = {
    "sleep only": ("", "", 0.0),
    "sound server": ("virtmic", "callsink.monitor", BLOCK_SECONDS),
    "sound server, 20 ms blocks": ("virtmic", "callsink.monitor", 0.02),
    "PortAudio": ("callreel_mic", "callreel_farend", BLOCK_SECONDS),
}
"""Each way's microphone, far end and block length; "sleep only" is the interpreter alone (the
baseline)."""

CHILD = """
import json, sys, time
microphone, far_end = sys.argv[1], sys.argv[2]
seconds, block = float(sys.argv[3]), float(sys.argv[4])
if not microphone:
    print("capturing", flush=True)
    time.sleep(seconds)
    print(json.dumps({"samples": 0, "kind": "none"}), flush=True)
    raise SystemExit
from agent.capture.audio.capture import AudioSources, CallAudioCapture
audio = CallAudioCapture(AudioSources(microphone, far_end), block_seconds=block)
audio.start()
print("capturing", flush=True)
began, samples = time.monotonic(), 0
while time.monotonic() - began < seconds:
    time.sleep(0.2)
    samples += len(audio.read_settled())
samples += len(audio.finish())
kind = type(audio._sources[0]).__name__
print(json.dumps({"samples": samples, "kind": kind}), flush=True)
"""


@dataclass(frozen=True, slots=True)
class Measured:
    way: str
    cpu: float
    """CPU seconds while capturing, every thread."""
    threads: dict[str, float]
    samples: int
    stream_kind: str


def measure(way: str, seconds: float, env: dict[str, str]) -> Measured:
    microphone, far_end, block = DEVICES[way]
    child = subprocess.Popen(  # noqa: S603 - fixed argument list, no shell
        [sys.executable, "-c", CHILD, microphone, far_end, f"{seconds:g}", f"{block:g}"],
        env=env,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    if child.stdout.readline().strip() != "capturing":
        raise RuntimeError(f"the {way!r} child did not start capturing")
    threads = ThreadCpuSampler(child.pid)
    threads.sample()
    before = threads.by_name()
    while child.poll() is None:
        threads.sample()
        time.sleep(0.1)
    if child.returncode != 0:
        raise RuntimeError(f"the {way!r} child failed with {child.returncode}")
    report = json.loads(child.stdout.read().strip().splitlines()[-1])
    spent = {name: cpu - before.get(name, 0.0) for name, cpu in threads.by_name().items()}
    return Measured(way, sum(spent.values()), spent, int(report["samples"]), str(report["kind"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--way",
        action="append",
        choices=[way for way in DEVICES if way != "sleep only"],
        help="measure only these ways (repeatable; default: all); sleep only always runs",
    )
    args = parser.parse_args()
    per_minute = 60 / args.seconds
    ways = ["sleep only", *(args.way or [way for way in DEVICES if way != "sleep only"])]
    ways = ways * args.rounds
    with (
        tempfile.TemporaryDirectory(prefix="callreel-audio-") as work,
        running_pulse_server(Path(work)) as pulse,
    ):
        tone = pulse.play_tone("callsink", 440, args.seconds * len(ways) * 1.5 + 30)
        try:
            env = {**os.environ, **pulse.env, "PYTHONPATH": str(REPO_ROOT)}
            rows = [measure(way, args.seconds, env) for way in ways]
        finally:
            tone.kill()
            tone.wait()
    baseline = statistics.median(row.cpu for row in rows if row.way == "sleep only")
    print(f"{args.seconds:g} s of capture per run, {args.rounds} rounds; CPU s per minute")
    print()
    print("| way | stream | CPU s per min | x sleep only | samples | by thread (s per min) |")
    print("|---|---|---:|---:|---:|---|")
    for row in rows:
        threads = ", ".join(f"{name} {cpu * per_minute:.2f}" for name, cpu in row.threads.items())
        ratio = f"{row.cpu / baseline:.0f}" if baseline > 0 else "-"
        print(
            f"| {row.way} | {row.stream_kind} | {row.cpu * per_minute:.2f} | {ratio}"
            f" | {row.samples} | {threads} |"
        )


if __name__ == "__main__":
    main()
