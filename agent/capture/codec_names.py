"""The video codecs policy can choose, declared once (settings check the name without loading
PyAV; agent/capture/encoder.py maps each to its encoder)."""

from __future__ import annotations

import enum


class CodecName(enum.StrEnum):
    H264 = "h264"
    """H.264 in MP4: the default, chosen by measurement (docs/benchmarks.md)."""
    VP9 = "vp9"
    """VP9 in WebM."""
