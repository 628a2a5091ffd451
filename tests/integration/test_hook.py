"""The softphone's hook command, end to end: a real process, the control socket, the detector."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.control.channel import ControlServer
from agent.detect.base import CallSignal
from agent.detect.hook import HookDetector
from tests.helpers.data import REPO_ROOT
from tests.helpers.softphone import Signals

HOOK = [sys.executable, "-m", "agent.commands.hook"]


@pytest.fixture
def runtime_dir() -> Iterator[Path]:
    # AF_UNIX paths are limited to ~100 bytes; pytest's tmp_path can be longer.
    base = Path(tempfile.mkdtemp(prefix="crh-", dir="/tmp"))
    try:
        yield base / "run"
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def agent(runtime_dir: Path) -> Iterator[tuple[HookDetector, Signals]]:
    """What the agent core does: route 'hook' requests to the detector, whose emit only queues."""
    detector = HookDetector()
    signals = Signals()
    detector.start(signals)

    def handler(request: dict[str, object]) -> dict[str, object]:
        if request["command"] == "hook":
            return detector.handle_request(request)
        return {"ok": False, "error": "unknown command"}

    server = ControlServer(runtime_dir, handler)
    server.start()
    try:
        yield detector, signals
    finally:
        server.stop()
        detector.stop()


def _hook(runtime_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*HOOK, *args, "--runtime-dir", str(runtime_dir)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_hook_command_off_then_on(agent: tuple[HookDetector, Signals], runtime_dir: Path) -> None:
    _, signals = agent
    off = _hook(runtime_dir, "off", "--call-id", "call-7")
    assert (off.returncode, off.stderr) == (0, "")
    on = _hook(runtime_dir, "on", "--call-id", "call-7")
    assert (on.returncode, on.stderr) == (0, "")
    assert [item for _, item in signals.wait_for(2, timeout=5)] == [
        CallSignal(True, "call-7", "hook", "hook command off-hook"),
        CallSignal(False, "call-7", "hook", "hook command on-hook"),
    ]
    # This test process ran the command, so it was the watched "softphone"; it is alive and
    # the on-hook ended the watch: nothing more arrives.
    time.sleep(0.6)
    assert len(signals.items) == 2


def test_softphone_crash_ends_the_call(
    agent: tuple[HookDetector, Signals], runtime_dir: Path
) -> None:
    _, signals = agent
    # A stand-in softphone: runs the hook command (so it is the command's parent), then idles.
    command = [*HOOK, "off", "--call-id", "c1", "--runtime-dir", str(runtime_dir)]
    script = (
        "import subprocess, sys, time\n"
        f"status = subprocess.run({command!r}).returncode\n"
        "print(status, flush=True)\n"
        "time.sleep(120)\n"
    )
    softphone = subprocess.Popen(
        [sys.executable, "-c", script], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert softphone.stdout is not None
        assert softphone.stdout.readline().strip() == "0"
        ((_, off),) = signals.wait_for(1, timeout=5)
        assert off == CallSignal(True, "c1", "hook", "hook command off-hook")
        killed_at = time.time()
        softphone.send_signal(signal.SIGKILL)
        # Not reaped on purpose at first: a zombie softphone has exited all the same.
        (_, (arrived, on)) = signals.wait_for(2, timeout=5)
        assert on == CallSignal(False, "c1", "hook", "softphone exited")
        assert arrived - killed_at < 1.0
    finally:
        softphone.kill()
        softphone.communicate()


def test_a_new_call_replaces_the_watch(
    agent: tuple[HookDetector, Signals], runtime_dir: Path
) -> None:
    detector, signals = agent
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        request = {"command": "hook", "state": "off", "call_id": "a", "softphone_pid": sleeper.pid}
        assert detector.handle_request(request) == {"ok": True}
        request = {"command": "hook", "state": "off", "call_id": "b", "softphone_pid": os.getpid()}
        assert detector.handle_request(request) == {"ok": True}
        sleeper.kill()
        sleeper.wait()
        time.sleep(0.6)
        assert [item.call_id for _, item in signals.wait_for(2, timeout=1)] == ["a", "b"]
    finally:
        sleeper.kill()
        sleeper.wait()


@pytest.mark.parametrize(
    ("request_", "error"),
    [
        ({"command": "hook"}, "'state' must be 'off' or 'on'"),
        ({"command": "hook", "state": "up"}, "'state' must be 'off' or 'on'"),
        ({"command": "hook", "state": "off", "call_id": 5}, "'call_id' must be null"),
        ({"command": "hook", "state": "off", "call_id": ""}, "'call_id' must be null"),
        ({"command": "hook", "state": "off", "call_id": "x" * 300}, "'call_id' must be null"),
        ({"command": "hook", "state": "off", "softphone_pid": "12"}, "'softphone_pid' must be"),
        ({"command": "hook", "state": "off", "softphone_pid": True}, "'softphone_pid' must be"),
        ({"command": "hook", "state": "off", "softphone_pid": -4}, "'softphone_pid' must be"),
    ],
)
def test_bad_hook_requests(
    agent: tuple[HookDetector, Signals], request_: dict[str, object], error: str
) -> None:
    detector, signals = agent
    reply = detector.handle_request(request_)
    assert reply["ok"] is False
    assert error in str(reply["error"])
    assert signals.items == []


def test_dead_softphone_pid_is_refused(agent: tuple[HookDetector, Signals]) -> None:
    detector, signals = agent
    gone = subprocess.Popen(["true"])
    gone.wait()
    reply = detector.handle_request(
        {"command": "hook", "state": "off", "call_id": None, "softphone_pid": gone.pid}
    )
    assert reply == {"ok": False, "error": f"softphone process {gone.pid} is not running"}
    assert signals.items == []


def test_hook_command_without_agent(runtime_dir: Path) -> None:
    result = _hook(runtime_dir, "off")
    assert result.returncode == 1
    assert "not running" in result.stderr
    assert "callreel-agent run" in result.stderr


def test_hook_command_reports_refusal(
    agent: tuple[HookDetector, Signals], runtime_dir: Path
) -> None:
    detector, _ = agent
    detector.stop()
    result = _hook(runtime_dir, "on")
    assert result.returncode == 1
    assert "the agent refused: hook detector is not running" in result.stderr


def test_hook_command_imports_stay_light(runtime_dir: Path) -> None:
    """The softphone waits for the command: no capture stack at import time."""
    code = (
        "import sys, agent.commands.hook, agent.control.channel\n"
        "heavy = {'numpy', 'av', 'mss', 'sounddevice', 'httpx', 'psutil', 'pulsectl', 'PySide6'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
