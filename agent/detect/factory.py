"""Build the detectors that policy names; each backend module is imported only when chosen."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from agent.detect.addresses import parse_host_port
from agent.detect.base import CallDetector
from agent.detect.names import DetectorName


def _names(names: Sequence[str]) -> list[DetectorName]:
    known = {name.value for name in DetectorName}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(
            f"unknown call detector(s) {', '.join(map(repr, unknown))}; "
            f"choose from {', '.join(DetectorName)}"
        )
    if len(set(names)) != len(names):
        raise ValueError(f"call detectors listed twice: {', '.join(names)}")
    return [DetectorName(name) for name in names]


def create_detectors(
    names: Sequence[str],
    *,
    softphone_executable: str,
    baresip_address: str,
    platform: str = sys.platform,
) -> list[CallDetector]:
    """One detector per name, in order; ValueError names what is wrong and what would work."""
    detectors: list[CallDetector] = []
    for name in _names(names):
        match name:
            case DetectorName.HOOK:
                from agent.detect.hook import HookDetector  # noqa: PLC0415 - loaded when chosen

                detectors.append(HookDetector())
            case DetectorName.PULSE:
                if platform == "win32":
                    raise ValueError(
                        "call detector 'pulse' needs PulseAudio or PipeWire (Linux); "
                        "on Windows use 'windows-mic' or 'hook'"
                    )
                from agent.detect.pulse_streams import PulseStreamDetector  # noqa: PLC0415
                from agent.detect.trusted_process import Softphone  # noqa: PLC0415

                detectors.append(PulseStreamDetector(Softphone.from_setting(softphone_executable)))
            case DetectorName.BARESIP:
                from agent.detect.baresip_ctrl import BaresipDetector  # noqa: PLC0415
                from agent.detect.trusted_process import Softphone  # noqa: PLC0415

                try:
                    host, port = parse_host_port(baresip_address)
                except ValueError as exc:
                    raise ValueError(f"baresip address: {exc}") from None
                detectors.append(
                    BaresipDetector(host, port, Softphone.from_setting(softphone_executable))
                )
            case DetectorName.WINDOWS_MIC:
                if platform != "win32":
                    raise ValueError(
                        f"call detector 'windows-mic' works only on Windows, not on {platform}; "
                        "use 'pulse', 'baresip' or 'hook' here"
                    )
                from agent.detect.trusted_process import Softphone  # noqa: PLC0415
                from agent.detect.windows_mic import WindowsMicDetector  # noqa: PLC0415

                # Windows names the program by its full path; a bare name would match a
                # program of that name in any folder.
                softphone = Softphone.from_setting(softphone_executable)
                detectors.append(WindowsMicDetector(str(softphone.executable)))
    return detectors
