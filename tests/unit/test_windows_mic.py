"""The pure parts of the Windows microphone-in-use detector (they run on every OS)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pytest

from agent.detect.windows_mic import (
    MicUsage,
    WindowsMicDetector,
    any_in_use,
    datetime_to_filetime,
    filetime_to_datetime,
    key_name_to_path,
    matches_executable,
    mic_in_use,
    path_to_key_name,
)

KEY = "C:#Program Files (x86)#MicroSIP#microsip.exe"


def test_key_name_decoding() -> None:
    assert key_name_to_path(KEY) == r"C:\Program Files (x86)\MicroSIP\microsip.exe"
    assert path_to_key_name(key_name_to_path(KEY)) == KEY


@pytest.mark.parametrize(
    ("executable", "expected"),
    [
        ("microsip.exe", True),
        ("MicroSIP.EXE", True),
        (r"c:\program files (x86)\microsip\MICROSIP.exe", True),
        (r"C:\Other\microsip.exe", False),
        ("microsip", False),
        ("zoiper.exe", False),
    ],
)
def test_matches_executable(executable: str, expected: bool) -> None:
    assert matches_executable(KEY, executable) is expected


def test_in_use_decision() -> None:
    assert mic_in_use(133_000_000_000_000_000, 0)
    assert mic_in_use(133_000_000_000_000_100, 133_000_000_000_000_000)
    assert not mic_in_use(133_000_000_000_000_000, 133_000_000_000_000_100)
    assert not mic_in_use(0, 0)


def test_filetime_conversion() -> None:
    assert filetime_to_datetime(0) is None
    assert filetime_to_datetime(116_444_736_000_000_000) == dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    moment = dt.datetime(2025, 3, 4, 5, 6, 7, 123456, tzinfo=dt.UTC)
    assert filetime_to_datetime(datetime_to_filetime(moment)) == moment


def test_most_recent_live_usage_wins() -> None:
    old = MicUsage(r"C:\a\microsip.exe", 100, 0)
    new = MicUsage(r"C:\b\microsip.exe", 200, 0)
    done = MicUsage(r"C:\c\microsip.exe", 300, 400)
    assert any_in_use([old, done, new]) == new
    assert any_in_use([done]) is None


def test_refuses_to_start_off_windows() -> None:
    detector = WindowsMicDetector("microsip.exe", platform="linux")
    with pytest.raises(RuntimeError, match="only on Windows"):
        detector.start(lambda _signal: None)
    detector.stop()


def test_factory_builds_named_detectors_and_explains_refusals(tmp_path: Path) -> None:
    from agent.detect.factory import create_detectors

    detectors = create_detectors(
        ["hook", "pulse", "baresip"],
        softphone_executable=sys.executable,
        baresip_address="127.0.0.1:4444",
        platform="linux",
    )
    assert [detector.name for detector in detectors] == ["hook", "pulse", "baresip"]
    softphone = tmp_path / "microsip.exe"
    softphone.write_bytes(b"")
    on_windows = create_detectors(
        ["windows-mic"], softphone_executable=str(softphone), baresip_address="", platform="win32"
    )
    assert [detector.name for detector in on_windows] == ["windows-mic"]
    with pytest.raises(ValueError, match=r"'microsip\.exe' is not a program on PATH; set it to"):
        create_detectors(
            ["windows-mic"], softphone_executable="microsip.exe", baresip_address="",
            platform="win32",
        )  # fmt: skip
    with pytest.raises(ValueError, match="'windows-mic' works only on Windows"):
        create_detectors(
            ["windows-mic"], softphone_executable="x", baresip_address="", platform="linux"
        )
    with pytest.raises(ValueError, match=r"unknown call detector\(s\) 'skype'; choose from hook"):
        create_detectors(["skype"], softphone_executable="x", baresip_address="")
    with pytest.raises(ValueError, match="is not host:port"):
        create_detectors(["baresip"], softphone_executable="x", baresip_address="localhost")
