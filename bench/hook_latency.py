"""How long a softphone waits for `callreel-agent hook`: spawn to exit, answer included.

Runs N hook commands (the installed `callreel-agent hook` console script, as a softphone runs
it) against a ControlServer with a HookDetector in this process, and N `python -c pass` as the
baseline of interpreter start-up on this machine; prints median and p95 of both and the
ratio. MicroSIP waits for its hook commands, so the target is about 100 ms.

    .venv/bin/python -m bench.hook_latency [--runs 30]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from agent.control.channel import ControlServer
from agent.detect.base import CallSignal, UntrustedSource
from agent.detect.hook import HookDetector

REPO_ROOT = Path(__file__).resolve().parent.parent


def _time_runs(command: list[str], runs: int) -> list[float]:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, cwd=REPO_ROOT, check=True, stdout=subprocess.DEVNULL)  # noqa: S603
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="crb-", dir="/tmp"))  # short: AF_UNIX paths are limited
    received: list[CallSignal | UntrustedSource] = []
    detector = HookDetector()
    detector.start(received.append)
    server = ControlServer(base / "run", detector.handle_request)
    server.start()
    try:
        hook = [str(Path(sys.executable).parent / "callreel-agent"), "hook"]
        states = ["off", "on"]
        # Warm the page cache for both commands before timing either.
        _time_runs([sys.executable, "-c", "pass"], 3)
        _time_runs([*hook, "on", "--runtime-dir", str(base / "run")], 3)
        baseline = _time_runs([sys.executable, "-c", "pass"], args.runs)
        timings = []
        for number in range(args.runs):
            timings += _time_runs(
                [*hook, states[number % 2], "--runtime-dir", str(base / "run")], 1
            )
    finally:
        server.stop()
        detector.stop()
        shutil.rmtree(base, ignore_errors=True)
    assert len(received) == args.runs + 3, "every hook command must reach the detector"
    print(
        f"python -c pass: median {statistics.median(baseline):.1f} ms, p95 {_p95(baseline):.1f} ms"
    )
    print(f"hook command:   median {statistics.median(timings):.1f} ms, p95 {_p95(timings):.1f} ms")
    ratio = statistics.median(timings) / statistics.median(baseline)
    print(f"ratio (median hook / median baseline): {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
