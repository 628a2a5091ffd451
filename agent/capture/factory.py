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

from agent.capture.audio.capture import AudioSources, CallAudioCapture
from agent.capture.codec_names import CodecName
from agent.capture.encoder import CODECS, EncoderSettings
from agent.capture.grab import MaskedGrabber
from agent.capture.kept_pixels import KeptPixels
from agent.capture.pipeline import CapturePipeline
from agent.capture.window.base import WindowLocator, WindowMatch
from agent.capture.window.factory import create_locator
from agent.settings.layers import AgentSettings
from agent.spool.spool import Spool
from protocol.keys import VaultRecipient
from protocol.segments.seal import RecordingSealer

UNCONFIGURED = "no business window (none is configured, so the screen is not recorded)"


@dataclass(frozen=True, slots=True)
class CaptureChoices:
    """The parts of the settings capture needs (agent/settings/layers.py maps onto this)."""

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
        return cls(
            window=settings.window_match(),
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
        # The one decision about which pixels are kept, for recordings and preview alike.
        self._kept = KeptPixels(
            payment_title=(
                re.compile(choices.payment_title_pattern) if choices.payment_title_pattern else None
            )
        )
        self._local = threading.local()
        self.captured_window = describe_window(choices.window)
        self.captured_audio = "your microphone and the caller's voice, on separate channels"

    @property
    def has_window(self) -> bool:
        return self._choices.window is not None

    def locator(self) -> WindowLocator:
        return create_locator(self._choices.window)

    def seal_to(self, recipient: VaultRecipient) -> None:
        """Recordings created from now on are sealed to `recipient` (the vault rotated its
        key); one under way keeps the key it began with."""
        self._recipient = recipient

    def create(self, recording_id: uuid.UUID) -> CapturePipeline:
        choices = self._choices
        return CapturePipeline(
            MaskedGrabber(self.locator(), kept=self._kept),
            CallAudioCapture(AudioSources(choices.microphone, choices.far_end)),
            RecordingSealer(self._recipient, recording_id),
            self._spool,
            settings=EncoderSettings(
                codec=CODECS[CodecName(choices.codec)],
                width=choices.width,
                height=choices.height,
                segment_seconds=choices.segment_seconds,
            ),
            fps=choices.fps,
        )

    def preview(self, paused: bool) -> np.ndarray | None:
        """The frame as a recording would keep it now (on the caller's thread)."""
        grabber: MaskedGrabber | None = getattr(self._local, "grabber", None)
        if grabber is None:
            grabber = MaskedGrabber(self.locator(), kept=self._kept)
            self._local.grabber = grabber
        return grabber.grab(paused=paused).pixels

    def close_preview(self) -> None:
        grabber: MaskedGrabber | None = getattr(self._local, "grabber", None)
        if grabber is not None:
            grabber.close()
            self._local.grabber = None
