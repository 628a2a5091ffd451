"""The README's quickstart, tried as a newcomer on a server with no desktop would: a clean copy
of the repository, `scripts/run`, then what it prints. The console link signs the local
trainer in, a session is started on the console's page, the printed hook commands make a test
call, and the recording the demo desktop gave (its demo window, its demo caller and
microphone) is listed by the console and plays: its first segment shows the demo window and
both lanes of its waveform carry sound.

It sets up its own .venv in the copy (scripts/setup runtime, from pip's cache) and runs as
root, as the demo installs a root-owned demo policy (with sudo otherwise)."""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import av
import httpx
import numpy as np
import pytest

from protocol.pinned_tls import client_ssl_context

pytestmark = pytest.mark.end_to_end

REPOSITORY = Path(__file__).resolve().parents[2]
SETUP_TIMEOUT_S = 900
CALL_SECONDS = 15


class Printed:
    """What `scripts/run` prints, collected as it comes."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._process = process
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout_s: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for line in list(self.lines):
                found = re.search(pattern, line)
                if found:
                    return found
            if self._process.poll() is not None:
                break
            time.sleep(0.2)
        tail = "\n".join(self.lines[-60:])
        raise AssertionError(f"scripts/run never printed {pattern!r}; it printed:\n{tail}")


def _clean_copy(target: Path) -> None:
    """The repository's files as a clone has them (tracked files, as they are now)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPOSITORY, capture_output=True, check=True
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPOSITORY / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


@pytest.fixture
def quickstart(tmp_path: Path) -> Iterator[tuple[Printed, Path]]:
    if os.geteuid() != 0:
        pytest.skip("the demo installs a root-owned policy: run as root (CI does)")
    # A short home, as people have: the agent's control socket lives under it, and a socket's
    # path may not be longer than 107 bytes.
    home = Path(tempfile.mkdtemp(prefix="cr-home-"))
    clone = tmp_path / "callreel"
    clone.mkdir()
    _clean_copy(clone)
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    cache = Path(os.environ.get("PIP_CACHE_DIR") or Path.home() / ".cache" / "pip")
    env.update(HOME=str(home), PIP_CACHE_DIR=str(cache), PYTHONUNBUFFERED="1")
    for variable in ("XDG_STATE_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_RUNTIME_DIR"):
        env.pop(variable, None)
    process = subprocess.Popen(
        [str(clone / "scripts" / "run")],
        cwd=clone,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    printed = Printed(process)
    try:
        yield printed, clone
    finally:
        print("scripts/run printed:", *printed.lines[-200:], sep="\n")
        with _suppress_gone():
            os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with _suppress_gone():
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
        shutil.rmtree(home, ignore_errors=True)


class _suppress_gone:  # noqa: N801 - used as a statement, like contextlib.suppress
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> bool:
        return kind is not None and issubclass(kind, ProcessLookupError)


def _run_printed(command: str, clone: Path) -> None:
    done = subprocess.run(
        ["bash", "-c", command], cwd=clone, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, f"{command}: {done.stderr}"


def test_the_quickstart_records_a_test_call_that_the_console_plays(
    quickstart: tuple[Printed, Path],
) -> None:
    printed, clone = quickstart
    link = printed.wait_for(r"^\s+(https://127\.0\.0\.1:\d+/console/sign-in/once/\S+)$",
                            SETUP_TIMEOUT_S)[1]  # fmt: skip
    certificate = printed.wait_for(r"\(certificate: (\S+)\)", 5)[1]
    hook_off = printed.wait_for(r"^\s+(\S+callreel-agent hook off .+)$", 5)[1]
    hook_on = printed.wait_for(r"^\s+(\S+callreel-agent hook on .+)$", 5)[1]
    vault = link.split("/console/")[0]
    agent = printed.wait_for(r"--agent (\S+) --calls", 5)[1]
    printed.wait_for(r"agent running", 60)

    with httpx.Client(verify=client_ssl_context(Path(certificate)), timeout=60,
                      headers={"Origin": vault}) as browser:  # fmt: skip
        assert browser.post(link).status_code == 303  # the one-time sign-in
        started = browser.post(
            f"{vault}/console/sessions",
            data={"for": "agent", "who": agent, "purpose": "training", "calls": "1",
                  "hours": "1", "notice": "Quickstart test call"},
        )  # fmt: skip
        assert started.status_code == 303, started.text
        time.sleep(3)  # the demo policy has the agent ask for sessions every second

        _run_printed(hook_off, clone)
        time.sleep(CALL_SECONDS)
        _run_printed(hook_on, clone)

        recording = _wait_for_recording(browser, vault)
        played = browser.post(
            f"{vault}/console/recordings/{recording}/play", data={"purpose": "training"}
        )
        assert played.status_code == 303, played.text
        ticket = played.headers["location"].split("/console/play/")[1].split("?")[0]
        segment = browser.get(f"{vault}/api/v1/playback/{ticket}/segments/0")
        assert segment.status_code == 200, segment.text
        peaks = browser.get(f"{vault}/api/v1/playback/{ticket}/peaks").json()

    frame = _first_frame(segment.content)
    assert frame[..., 2].mean() > 100, "the demo window (blue) is in the recording"
    for lane in ("agent", "caller"):
        loudest = max(max(s[lane]) for s in peaks["segments"])
        assert loudest > 20, f"the demo {lane} is heard"


def _wait_for_recording(browser: httpx.Client, vault: str) -> str:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        page = browser.get(f"{vault}/console/recordings").text
        found = re.search(r'href="/console/recordings/([0-9a-f-]{36})"', page)
        if found and "complete" in page:
            return found[1]
        time.sleep(1)
    raise AssertionError("the test call's recording never reached the console's list")


def _first_frame(media: bytes) -> np.ndarray:
    with av.open(io.BytesIO(media), "r") as container:
        for frame in container.decode(video=0):
            picture: np.ndarray = frame.to_ndarray(format="rgb24")
            # The middle of the picture: the demo window, not the letterbox around it.
            h, w, _ = picture.shape
            return picture[h // 3 : 2 * h // 3, w // 3 : 2 * w // 3]
    raise AssertionError("the first segment has no video frame")
