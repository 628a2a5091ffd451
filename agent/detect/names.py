"""The call detectors policy can name, declared once (settings check them, the factory builds
them, doctor checks each)."""

from __future__ import annotations

import enum


class DetectorName(enum.StrEnum):
    HOOK = "hook"
    """The softphone runs `callreel-agent hook off|on` when a call starts and ends."""
    PULSE = "pulse"
    """The softphone's recording stream in PulseAudio or PipeWire (Linux)."""
    BARESIP = "baresip"
    """baresip's ctrl_tcp events."""
    WINDOWS_MIC = "windows-mic"
    """Windows' microphone-in-use state for the softphone's executable."""
