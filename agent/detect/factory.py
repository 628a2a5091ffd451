"""Build the detectors that policy names; each backend module is imported only when chosen."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from agent.detect.base import CallDetector

DETECTOR_NAMES = ("hook", "pulse", "baresip", "windows-mic")


def parse_address(address: str) -> tuple[str, int]:
    """`host:port` (IPv6 as `[::1]:port`) -> (host, port)."""
    host, sep, port_text = address.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"baresip address {address!r} is not host:port, e.g. 127.0.0.1:4444")
    return host, int(port_text)


def create_detectors(
    names: Sequence[str],
    *,
    softphone_executable: str,
    baresip_address: str,
    platform: str = sys.platform,
) -> list[CallDetector]:
    """One detector per name, in order; ValueError names what is wrong and what would work."""
    unknown = [name for name in names if name not in DETECTOR_NAMES]
    if unknown:
        raise ValueError(
            f"unknown call detector(s) {', '.join(map(repr, unknown))}; "
            f"choose from {', '.join(DETECTOR_NAMES)}"
        )
    if len(set(names)) != len(names):
        raise ValueError(f"call detectors listed twice: {', '.join(names)}")
    detectors: list[CallDetector] = []
    for name in names:
        if name == "hook":
            from agent.detect.hook import HookDetector  # noqa: PLC0415 - backends load only when chosen

            detectors.append(HookDetector())
        elif name == "pulse":
            if platform == "win32":
                raise ValueError(
                    "call detector 'pulse' needs PulseAudio or PipeWire (Linux); "
                    "on Windows use 'windows-mic' or 'hook'"
                )
            from agent.detect.pulse_streams import PulseStreamDetector  # noqa: PLC0415 - backends load only when chosen

            detectors.append(PulseStreamDetector(softphone_executable))
        elif name == "baresip":
            from agent.detect.baresip_ctrl import BaresipDetector  # noqa: PLC0415 - backends load only when chosen

            detectors.append(BaresipDetector(*parse_address(baresip_address)))
        else:
            if platform != "win32":
                raise ValueError(
                    f"call detector 'windows-mic' works only on Windows, not on {platform}; "
                    "use 'pulse', 'baresip' or 'hook' here"
                )
            from agent.detect.windows_mic import WindowsMicDetector  # noqa: PLC0415 - backends load only when chosen

            detectors.append(WindowsMicDetector(softphone_executable))
    return detectors
