"""An armed agent: what it costs while it waits for a call, and how fast calls start and end.

    .venv/bin/python bench/armed_agent.py [--idle-seconds 300] [--calls 5] [--call-seconds 12]

The whole product as processes, as on a desk: a private 1280x720 Xvfb + openbox showing the
scripted order desk of bench/scripted_desktop.py (someone typing in the business window), a
tray host (trayer), a private PulseAudio with the test's call sinks, a `callreel-vault serve`
on the embedded defaults, and `callreel-agent run` (tray, notice, hook detector, payment-title
watcher, uploader), enrolled, with a trainer's session for it open: the agent is armed.

1. **Idle**: for `--idle-seconds` no call comes. Measured over that window: the agent's CPU
   seconds (user + system of every thread, and of any child it reaped, psutil) and its
   resident memory (VmRSS at the end, and its peak VmHWM), against a `python -c` loop that
   sleeps a quarter of a second at a time (an idle Python process, same run, same window).
2. **Calls**: `--calls` calls, each started and ended by `callreel-agent hook off|on` run by
   this process as a softphone runs them. From the agent's log (times on the wall clock):
   - off-hook to the first frame, less the notice's lead time (the notice must be on screen
     for that long before recording starts): what the agent adds, target under 100 ms; split
     into off-hook to notice on screen, and the notice's lead time ending to the first frame;
   - on-hook to the last segment durable: from spawning the on-hook command to the log line
     the agent writes once the last segment and the recording's metadata are fsynced into
     the spool and the recording is marked complete, target under 200 ms. The hook command's
     own start-up (a Python interpreter, bench/hook_latency.py) is part of it, and is shown.

Several minutes; needs a quiet machine (nothing else running) and stays out of CI.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
from machine import cpu_model
from scripted_desktop import WINDOW_TITLE, scripted_desktop

from testbed.process_memory import peak_rss_mb, rss_mb
from testbed.programs import require_program, stop_process_group, stop_processes
from testbed.pulse import running_pulse_server
from testbed.waiting import wait_for
from tests.helpers.agent_harness import (
    AgentProcess,
    VaultProcess,
    add_people,
    start_session,
    write_policy,
)
from tests.helpers.qt import tray_owner

BIN = Path(sys.executable).parent
LEAD_TIME_S = 1.5
IDLE_LOOP = "import time\nwhile True:\n    time.sleep(0.25)\n"
RID = r"[0-9a-f-]{36}"
NOTICE = re.compile(rf"notice for ({RID}) on screen at ([0-9.]+)")
STARTED = re.compile(rf"capture of ({RID}) started at ([0-9.]+)")
STOPPED = re.compile(rf"capture of ({RID}) stopped \(\w+\) at ([0-9.]+): first frame at ([0-9.]+)")


@dataclass(frozen=True)
class CallTimes:
    off_hook: float
    notice: float
    started: float
    first_frame: float
    on_hook: float
    on_hook_command_done: float
    durable: float

    @property
    def beyond_lead_time_ms(self) -> float:
        return (self.first_frame - self.off_hook - LEAD_TIME_S) * 1000

    @property
    def to_notice_ms(self) -> float:
        return (self.notice - self.off_hook) * 1000

    @property
    def lead_end_to_start_ms(self) -> float:
        return (self.started - self.notice - LEAD_TIME_S) * 1000

    @property
    def start_to_frame_ms(self) -> float:
        return (self.first_frame - self.started) * 1000

    @property
    def to_durable_ms(self) -> float:
        return (self.durable - self.on_hook) * 1000

    @property
    def hook_command_ms(self) -> float:
        return (self.on_hook_command_done - self.on_hook) * 1000


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system + times.children_user + times.children_system


@contextlib.contextmanager
def tray(display: str, log: Path) -> Iterator[None]:
    with log.open("wb") as output:
        trayer = subprocess.Popen(  # noqa: S603 - fixed argument list
            [require_program("trayer"), "--SetDockType", "true"],
            env={**os.environ, "DISPLAY": display},
            stdin=subprocess.DEVNULL, stdout=output, stderr=output, start_new_session=True,
        )  # fmt: skip
    try:
        wait_for(lambda: tray_owner(display), what="trayer to own the tray", timeout=10)
        yield
    finally:
        stop_process_group(trayer)


def hook(agent: AgentProcess, state: str, call_id: str) -> float:
    """Run the hook command as a softphone does; the time it was spawned."""
    spawned = time.time()
    subprocess.run(  # noqa: S603 - the agent's own command
        [str(BIN / "callreel-agent"), "hook", state, "--call-id", call_id,
         "--runtime-dir", str(agent.root / "run")],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    return spawned


def idle(agent: AgentProcess, seconds: float) -> None:
    assert agent.process is not None
    baseline = subprocess.Popen([sys.executable, "-c", IDLE_LOOP])  # noqa: S603
    try:
        watched = {"agent": psutil.Process(agent.process.pid), "python -c": psutil.Process(
            baseline.pid)}  # fmt: skip
        time.sleep(2)  # the loop's own start-up is not idling
        began = {name: cpu_seconds(process) for name, process in watched.items()}
        print(f"idle: {seconds:g} s armed, no call", flush=True)
        time.sleep(seconds)
        print()
        print("| process | CPU s | % of a core | RSS MB | peak RSS MB |")
        print("|---|---:|---:|---:|---:|")
        for name, process in watched.items():
            used = cpu_seconds(process) - began[name]
            print(
                f"| {name} | {used:.2f} | {used / seconds * 100:.2f}"
                f" | {rss_mb(process.pid):.0f} | {peak_rss_mb(process.pid):.0f} |"
            )
        print()
    finally:
        stop_processes([baseline], timeout=5)


def calls(agent: AgentProcess, count: int, seconds: float) -> list[CallTimes]:
    log = agent.root / "data" / "agent.log"
    results = []
    for number in range(count):
        agent.wait_for_state("armed", timeout=60)
        call_id = f"bench-{number}"
        off_hook = hook(agent, "off", call_id)
        time.sleep(seconds)
        on_hook = hook(agent, "on", call_id)
        command_done = time.time()

        def stopped(after: float = off_hook) -> tuple[float, float, float, float] | None:
            text = log.read_text(errors="replace")
            notices = {rid: float(at) for rid, at in NOTICE.findall(text) if float(at) > after}
            starts = {rid: float(at) for rid, at in STARTED.findall(text)}
            for rid, durable, first in STOPPED.findall(text):
                if rid in notices:
                    return notices[rid], starts[rid], float(first), float(durable)
            return None

        notice, started, first, durable = wait_for(
            stopped, what="the call's recording to stop", timeout=30
        )
        results.append(CallTimes(off_hook, notice, started, first, on_hook, command_done, durable))
        print(
            f"call {number + 1}: first frame {results[-1].beyond_lead_time_ms:.0f} ms beyond the"
            f" lead time; durable {results[-1].to_durable_ms:.0f} ms after on-hook",
            flush=True,
        )
    return results


def report(results: list[CallTimes]) -> None:
    print()
    print("| ms (median / worst of the calls) | median | worst |")
    print("|---|---:|---:|")
    rows = (
        ("off-hook to first frame, beyond the 1.5 s lead time", "beyond_lead_time_ms"),
        ("  of which: off-hook command spawned to notice on screen", "to_notice_ms"),
        ("  of which: lead time over to capture started", "lead_end_to_start_ms"),
        ("  of which: capture started to first frame grabbed", "start_to_frame_ms"),
        ("on-hook command spawned to last segment durable", "to_durable_ms"),
        ("  the on-hook command itself, spawn to exit", "hook_command_ms"),
    )
    for label, name in rows:
        values = [getattr(result, name) for result in results]
        print(f"| {label} | {statistics.median(values):.0f} | {max(values):.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--idle-seconds", type=float, default=300.0)
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--call-seconds", type=float, default=12.0)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPUs, {cpu_model()}; Python {sys.version.split()[0]}")
    script_seconds = args.idle_seconds + args.calls * (args.call_seconds + 10) + 120
    with tempfile.TemporaryDirectory(prefix="crb-armed-", dir="/tmp") as temporary:
        base = Path(temporary)
        for directory in ("x", "pulse"):
            (base / directory).mkdir()
        with (
            scripted_desktop(base / "x", script_seconds, fullscreen=False) as desktop,
            tray(desktop.display, base / "trayer.log"),
            running_pulse_server(base / "pulse") as pulse,
        ):
            vault = VaultProcess(base / "vault")
            vault.start()
            try:
                people = add_people(vault)
                policy = write_policy(
                    base / "policy.toml",
                    {
                        "vault_url": vault.url,
                        "window_title_pattern": f"^{WINDOW_TITLE}$",
                        "payment_title_pattern": "Card payment",
                        "detectors": ["hook"],
                        "microphone": "virtmic",
                        "far_end": "callsink.monitor",
                        "notice_lead_time_s": LEAD_TIME_S,
                    },
                )
                env = {**pulse.env, "DISPLAY": desktop.display}
                agent = AgentProcess(base / "agent", policy, env)
                agent.enrol(vault, people.agent)
                agent.start()
                try:
                    start_session(vault, people, calls=args.calls)
                    agent.wait_for_state("armed", timeout=60)
                    idle(agent, args.idle_seconds)
                    report(calls(agent, args.calls, args.call_seconds))
                finally:
                    agent.stop()
            finally:
                vault.stop()


if __name__ == "__main__":
    main()
