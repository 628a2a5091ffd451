"""Off-hook on Windows from "this program is using the microphone" (the privacy indicator).

Windows 10 1903+ records microphone use per desktop program under
HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\CapabilityAccessManager\\ConsentStore\\
microphone\\NonPackaged\\<exe path with '\\' as '#'>, with QWORD FILETIME values
LastUsedTimeStart and LastUsedTimeStop; Stop is 0 (or older than Start) while the program
holds the microphone open. A softphone opens the microphone only for a call.

The parsing and the decision are pure functions, tested on every OS; `winreg` is imported only
when the detector starts.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PureWindowsPath
from typing import Any

from agent.detect.base import CallSignal, Emit, ThreadedDetector
from agent.detect.names import DetectorName

log = logging.getLogger(__name__)

CONSENT_KEY = (
    r"Software\Microsoft\Windows\CurrentVersion\CapabilityAccessManager"
    r"\ConsentStore\microphone\NonPackaged"
)
POLL_SECONDS = 0.5
FILETIME_EPOCH = dt.datetime(1601, 1, 1, tzinfo=dt.UTC)
"""FILETIME counts 100 ns ticks since 1601-01-01 UTC."""


@dataclass(frozen=True, slots=True)
class MicUsage:
    executable: str
    """The program's full path, decoded from the key name."""
    last_start: int
    last_stop: int
    """Raw FILETIME values; 0 when never set."""

    @property
    def in_use(self) -> bool:
        return mic_in_use(self.last_start, self.last_stop)


def key_name_to_path(key_name: str) -> str:
    """`C:#Program Files#MicroSIP#microsip.exe` -> `C:\\Program Files\\MicroSIP\\microsip.exe`."""
    return key_name.replace("#", "\\")


def path_to_key_name(path: str) -> str:
    return path.replace("\\", "#")


def matches_executable(key_name: str, executable: str) -> bool:
    """Whether the key is for `executable`, given as a basename or a full path.

    Windows file names are case-insensitive; a bare name matches that program in any folder.
    """
    wanted = PureWindowsPath(executable)
    found = PureWindowsPath(key_name_to_path(key_name))
    if wanted.parent == PureWindowsPath("."):
        return found.name.casefold() == wanted.name.casefold()
    return str(found).casefold() == str(wanted).casefold()


def mic_in_use(last_start: int, last_stop: int) -> bool:
    """In use while the last start has no stop after it (Stop 0, or Stop before Start)."""
    if last_start <= 0:
        return False
    return last_stop == 0 or last_start > last_stop


def filetime_to_datetime(filetime: int) -> dt.datetime | None:
    """A FILETIME as an aware UTC datetime (None for 0, "never")."""
    if filetime <= 0:
        return None
    return FILETIME_EPOCH + dt.timedelta(microseconds=filetime // 10)


def datetime_to_filetime(moment: dt.datetime) -> int:
    delta = moment.astimezone(dt.UTC) - FILETIME_EPOCH
    return (delta.days * 86_400 + delta.seconds) * 10_000_000 + delta.microseconds * 10


def any_in_use(usages: Iterable[MicUsage]) -> MicUsage | None:
    """The usage currently holding the microphone, if any (the most recent start)."""
    live = [usage for usage in usages if usage.in_use]
    return max(live, key=lambda usage: usage.last_start, default=None)


class WindowsMicDetector(ThreadedDetector):
    name = DetectorName.WINDOWS_MIC

    def __init__(self, executable: str, *, platform: str = sys.platform) -> None:
        super().__init__()
        self._executable = executable
        self._platform = platform

    def start(self, emit: Emit) -> None:
        if self._platform != "win32":
            raise RuntimeError("the windows-mic detector runs only on Windows")
        super().start(emit)

    def _run(self, emit: Emit) -> None:
        import winreg  # noqa: PLC0415 - Windows only, and only once the detector runs

        current: MicUsage | None = None
        warned = False
        while True:
            try:
                usage = any_in_use(self._read_usages(winreg))
                warned = False
            except OSError as exc:
                # The key appears only after the first program used the microphone.
                if not warned:
                    log.info("windows-mic detector: cannot read %s: %s", CONSENT_KEY, exc)
                    warned = True
                usage = None
            if usage is not None and current is None:
                call_id = f"mic-{usage.last_start}"
                emit(CallSignal(True, call_id, self.name, f"{usage.executable} uses the mic"))
            elif usage is None and current is not None:
                call_id = f"mic-{current.last_start}"
                emit(CallSignal(False, call_id, self.name, "microphone released"))
            current = usage
            if self._stopping.wait(POLL_SECONDS):
                return

    def _read_usages(self, winreg: Any) -> list[MicUsage]:
        usages = []
        with winreg.OpenKey(winreg.HKEY_CURRENT_USER, CONSENT_KEY) as parent:
            count = winreg.QueryInfoKey(parent)[0]
            for number in range(count):
                name = winreg.EnumKey(parent, number)
                if not matches_executable(name, self._executable):
                    continue
                with winreg.OpenKey(parent, name) as key:
                    start = _qword(winreg, key, "LastUsedTimeStart")
                    stop = _qword(winreg, key, "LastUsedTimeStop")
                usages.append(MicUsage(key_name_to_path(name), start, stop))
        return usages


def _qword(winreg: Any, key: Any, value_name: str) -> int:
    try:
        value, kind = winreg.QueryValueEx(key, value_name)
    except FileNotFoundError:
        return 0
    if kind != winreg.REG_QWORD or not isinstance(value, int):
        return 0
    return value
