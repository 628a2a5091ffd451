"""Finding the programs the testbed runs, and stopping what it started."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

DEBIAN_PACKAGES = {
    "Xvfb": "xvfb",
    "openbox": "openbox",
    "xdotool": "xdotool",
    "wmctrl": "wmctrl",
    "xterm": "xterm",
    "pulseaudio": "pulseaudio",
    "paplay": "pulseaudio-utils",
    "sox": "sox",
    "setpriv": "util-linux",
    "ceph-mon": "ceph-mon",
    "ceph-osd": "ceph-osd",
    "ceph-authtool": "ceph-common",
    "ceph": "ceph-common",
    "radosgw": "radosgw",
    "radosgw-admin": "radosgw",
}
"""Which Debian package brings each program (scripts/setup dev installs them)."""


class TestbedError(RuntimeError):
    """A component of the testbed is missing or did not start; the message says how to fix it."""

    __test__ = False  # not a test class, whatever its name says


def require_program(name: str, package: str | None = None) -> str:
    """The program's path; TestbedError naming its Debian package if it is not installed."""
    path = shutil.which(name)
    if path is None:
        raise TestbedError(
            f"{name} is not installed; install the Debian package"
            f" '{package or DEBIAN_PACKAGES.get(name, name)}' (scripts/setup dev does it)"
        )
    return path


def stop_process_group(process: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    """SIGTERM the process's whole group, SIGKILL it if it lingers, and reap it."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            continue
        return


def stop_processes(processes: Iterable[subprocess.Popen[Any]], timeout: float = 10.0) -> None:
    """SIGTERM every process, then SIGKILL whichever has not exited after `timeout`; reap all."""
    started = list(processes)
    for process in started:
        process.terminate()
    for process in started:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def tail(path: Path, size: int = 3000) -> str:
    """The end of a log, for an error message."""
    return path.read_text(errors="replace")[-size:] if path.exists() else f"({path} missing)"
