"""Builds each recording's capture pipeline from the settings, and the agent's live preview.

Both use the same whitelist and masking, so the preview shows exactly the pixels a recording
would keep. With no whitelist configured nothing of the screen is kept: every frame is black
(and `callreel-agent doctor` says what to set).
"""

from __future__ import annotations

import re
import threading
import uuid
from dataclasses import dataclass

import numpy as np

from agent.capture.audio import AudioSources, CallAudioCapture
from agent.capture.encoder import H264_VERYFAST, VP9_REALTIME, EncoderSettings
from agent.capture.geometry import Rect
from agent.capture.grab import MaskedGrabber
from agent.capture.pipeline import CapturePipeline
from agent.capture.window import (
    Visibility,
    WindowLocator,
    WindowMatch,
    WindowSnapshot,
    create_locator,
)
from agent.settings import AgentSettings
from agent.spool import Spool
from protocol.keys import VaultRecipient
from protocol.segments.seal import RecordingSealer

CODECS = {"h264": H264_VERYFAST, "vp9": VP9_REALTIME}
UNCONFIGURED = "no business window (none is configured, so the screen is not recorded)"


class UnconfiguredLocator(WindowLocator):
    """Stands in when policy names no business window: the window is always missing."""

    def __init__(self) -> None:
        pass

    def snapshot(self) -> WindowSnapshot:
        return WindowSnapshot(Visibility.MISSING, Rect(0, 0, 0, 0))


@dataclass(frozen=True, slots=True)
class CaptureChoices:
    """The parts of the settings capture needs (agent/settings.py maps onto this)."""

    window: WindowMatch | None
    microphone: str | None
    far_end: str | None
    codec: str
    width: int
    height: int
    segment_seconds: float
    fps: float
    payment_title_pattern: str

    @classmethod
    def from_settings(cls, settings: AgentSettings) -> CaptureChoices:
        """Empty settings mean "none": no whitelist field, the system's default device."""
        window = None
        if settings.window_title_pattern or settings.window_executable or settings.window_class:
            window = WindowMatch(
                executable=settings.window_executable or None,
                window_class=settings.window_class or None,
                title_pattern=settings.window_title_pattern or None,
            )
        return cls(
            window=window,
            microphone=settings.microphone or None,
            far_end=settings.far_end or None,
            codec=settings.codec,
            width=settings.video_width,
            height=settings.video_height,
            segment_seconds=settings.segment_seconds,
            fps=settings.fps,
            payment_title_pattern=settings.payment_title_pattern,
        )


def describe_window(match: WindowMatch | None) -> str:
    if match is None:
        return UNCONFIGURED
    parts = []
    if match.title_pattern:
        parts.append(f"titled like “{match.title_pattern}”")
    if match.executable:
        parts.append(f"of the program {match.executable}")
    if match.window_class:
        parts.append(f"of class {match.window_class}")
    return "the business window " + ", ".join(parts) + " (anything covering it is blacked out)"


class SettingsCaptureFactory:
    def __init__(self, choices: CaptureChoices, recipient: VaultRecipient, spool: Spool) -> None:
        self._choices = choices
        self._recipient = recipient
        self._spool = spool
        self._blank_titles = (
            re.compile(choices.payment_title_pattern) if choices.payment_title_pattern else None
        )
        self._local = threading.local()
        self.captured_window = describe_window(choices.window)
        self.captured_audio = "your microphone and the caller's voice, on separate channels"

    @property
    def has_window(self) -> bool:
        return self._choices.window is not None

    def locator(self) -> WindowLocator:
        if self._choices.window is None:
            return UnconfiguredLocator()
        return create_locator(self._choices.window)

    def create(self, recording_id: uuid.UUID) -> CapturePipeline:
        choices = self._choices
        return CapturePipeline(
            MaskedGrabber(self.locator()),
            CallAudioCapture(AudioSources(choices.microphone, choices.far_end)),
            RecordingSealer(self._recipient, recording_id),
            self._spool,
            settings=EncoderSettings(
                codec=CODECS[choices.codec],
                width=choices.width,
                height=choices.height,
                segment_seconds=choices.segment_seconds,
            ),
            fps=choices.fps,
            blank_titles=self._blank_titles,
        )

    def preview(self) -> np.ndarray | None:
        """The masked frame as a recording would keep it now (on the caller's thread)."""
        grabber: MaskedGrabber | None = getattr(self._local, "grabber", None)
        if grabber is None:
            grabber = MaskedGrabber(self.locator())
            self._local.grabber = grabber
        frame = grabber.grab()
        if self._blank_titles is not None and self._blank_titles.search(frame.snapshot.title):
            return np.zeros_like(frame.pixels)
        return frame.pixels

    def close_preview(self) -> None:
        grabber: MaskedGrabber | None = getattr(self._local, "grabber", None)
        if grabber is not None:
            grabber.close()
            self._local.grabber = None
