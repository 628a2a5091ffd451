"""How long the capture pipeline takes from on-hook (stop()) to everything flushed and spooled.

Usage: .venv/bin/python bench/pipeline_stop.py [--runs 8] [--audio-block-ms 20,40]

Each run records the scripted order desk (bench/scripted_desktop.py, fullscreen 1280x720 at
5 fps, 10 s segments) with a tone from the caller, through the real pipeline in a child
process (`tests.pipeline_child`: audio opened during a 1.5 s notice, then recorded), and stops
at a different point inside a segment, so the last segment is partial as on a real hang-up.
stop() returns only once the grab and encode threads are done, the last segment and the
metadata are sealed and fsynced into the spool and the recording is marked complete.

Baseline, measured in the same run in the same spool directory: a plain durable write of
one 10 s segment's bytes (write, fsync, rename, fsync the directory), the least any "nothing
lost" stop must do. The requirement (issue 3) is a clean stop within 200 ms of on-hook.

With several `--audio-block-ms`, every stop point is run once per audio block length (stop
waits for the block in progress), in turn, so the lengths share the machine's state.
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
from pathlib import Path

from scripted_desktop import REPO_ROOT, WINDOW_TITLE, scripted_desktop

from agent.capture.audio.capture import BLOCK_SECONDS
from protocol.keys import VaultIdentity, write_key_pair
from testbed.pulse import running_pulse_server

SEGMENT_BYTES = 105_000  # a 10 s segment of this content (docs/benchmarks.md)
BUDGET_S = 0.200


def durable_write_seconds(directory: Path, size: int) -> float:
    payload = os.urandom(size)
    began = time.monotonic()
    temporary, final = directory / "baseline.tmp", directory / "baseline.seg"
    with temporary.open("wb") as sink:
        sink.write(payload)
        sink.flush()
        os.fsync(sink.fileno())
    temporary.replace(final)
    handle = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)
    elapsed = time.monotonic() - began
    final.unlink()
    return elapsed


def one_run(
    root: Path, display: str, pulse_env: dict[str, str], stop_at: float, block_ms: float
) -> dict[str, object]:
    spool = root / f"spool-{stop_at:.2f}-{block_ms:g}"
    child = subprocess.run(  # noqa: S603 - fixed argument list, no shell
        [sys.executable, "-m", "testbed.pipeline_child", "--window", f"^{WINDOW_TITLE}$",
         "--recipient", str(root / "keys" / "vault-recipient.pub"), "--spool", str(spool),
         "--stop-at", str(stop_at), "--width", "1280", "--height", "720", "--fps", "5",
         "--segment-seconds", "10", "--audio-block-ms", str(block_ms)],
        cwd=REPO_ROOT, env={**pulse_env, "DISPLAY": display},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    if child.returncode != 0:
        raise SystemExit(f"pipeline run failed: {child.stderr[-2000:]}")
    report: dict[str, object] = json.loads(child.stdout.splitlines()[-1])
    report["baseline_seconds"] = durable_write_seconds(spool, SEGMENT_BYTES)
    return report


def report_run(
    run: int, runs: int, stop_at: float, block_ms: float, result: dict[str, object]
) -> None:
    phases = result["stop_phases"]
    assert isinstance(phases, dict)
    print(
        f"run {run + 1}/{runs}, audio blocks of {block_ms:g} ms: stop at {stop_at:.2f} s took"
        f" {float(str(result['stop_seconds'])) * 1000:.0f} ms"
        f" (baseline {float(str(result['baseline_seconds'])) * 1000:.1f} ms);"
        + ", ".join(f" {k} {v * 1000:.0f} ms" for k, v in phases.items()),
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument(
        "--audio-block-ms",
        type=lambda text: [float(part) for part in text.split(",")],
        default=[BLOCK_SECONDS * 1000],
        help="audio block lengths to compare, comma-separated (default: the shipped one)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="callreel-stop-") as temporary:
        root = Path(temporary)
        write_key_pair(VaultIdentity.generate(), root / "keys")
        (root / "pulse").mkdir()
        with (
            running_pulse_server(root / "pulse") as pulse,
            scripted_desktop(root, 600, fullscreen=True) as desktop,
        ):
            results: dict[float, list[dict[str, object]]] = {ms: [] for ms in args.audio_block_ms}
            for run in range(args.runs):
                stop_at = 3.0 + 5.5 * run / max(1, args.runs - 1)  # 3 to 8.5 s: mid-segment
                for block_ms, done in results.items():
                    caller = pulse.play_tone("callsink", 440, stop_at + 4)
                    try:
                        result = one_run(root, desktop.display, pulse.env, stop_at, block_ms)
                    finally:
                        caller.kill()
                        caller.wait()
                    done.append(result)
                    report_run(run, args.runs, stop_at, block_ms, result)
    print()
    for block_ms, done in results.items():
        stops = [float(str(r["stop_seconds"])) for r in done]
        baselines = [float(str(r["baseline_seconds"])) for r in done]
        print(
            f"audio blocks of {block_ms:g} ms: stop() median {statistics.median(stops) * 1000:.0f}"
            f" ms, worst {max(stops) * 1000:.0f} ms over {len(stops)} runs (budget"
            f" {BUDGET_S * 1000:.0f} ms); durable write of one segment: median"
            f" {statistics.median(baselines) * 1000:.1f} ms; ratio of medians"
            f" {statistics.median(stops) / statistics.median(baselines):.1f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
