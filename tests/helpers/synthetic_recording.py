"""Synthetic recordings made with the project's real encoder: screens and tones fed in the
order and timing the capture pipeline delivers them."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable

import av
import numpy as np

from agent.capture.encoder import AUDIO_RATE, EncodedSegment, EncoderSettings, Segmenter
from agent.capture.mask import Pixels
from protocol.recording_metadata import ConsentRecord, RecordingMetadata
from protocol.recording_vocabulary import ConsentMode

# The capture hands over audio about this much later than the frames of the same moment.
AUDIO_LAG_SECONDS = 1.0


def stereo_tone(
    start_sample: int, count: int, *, left_hz: float, right_hz: float, amplitude: int = 8000
) -> np.ndarray:
    """`count` stereo int16 samples of two sines, the first at sample `start_sample`."""
    n = np.arange(start_sample, start_sample + count)
    left = (np.sin(2 * np.pi * left_hz * n / AUDIO_RATE) * amplitude).astype(np.int16)
    right = (np.sin(2 * np.pi * right_hz * n / AUDIO_RATE) * amplitude).astype(np.int16)
    return np.stack([left, right], axis=1)


def record_segments(
    settings: EncoderSettings,
    *,
    seconds: float,
    fps: int,
    screen_at: Callable[[float], Pixels],
    sound: Callable[[int, int], np.ndarray],
) -> list[EncodedSegment]:
    """Feed `screen_at(t)` in real time and `sound(start_sample, count)` one lag behind, as
    the capture delivers them; return the finished segments in order."""
    segments: list[EncodedSegment] = []
    segmenter = Segmenter(settings, segments.append)
    audio_sent = 0
    for frame_number in range(round(seconds * fps)):
        t = frame_number / fps
        segmenter.add_frame(screen_at(t), t)
        settled = max(0, round((t - AUDIO_LAG_SECONDS) * AUDIO_RATE))
        if settled > audio_sent:
            segmenter.add_audio(sound(audio_sent, settled - audio_sent), audio_sent / AUDIO_RATE)
            audio_sent = settled
    total_samples = round(seconds * AUDIO_RATE)
    segmenter.add_audio(sound(audio_sent, total_samples - audio_sent), audio_sent / AUDIO_RATE)
    segmenter.finish()
    return segments


def first_frame_is_keyframe(segment: bytes) -> bool:
    """Whether a segment's video begins with a keyframe (decodes without the one before)."""
    with av.open(io.BytesIO(segment), mode="r") as container:
        return next(p for p in container.demux(video=0) if p.dts is not None).is_keyframe


def gapless_metadata(
    recording_id: uuid.UUID, *, segment_seconds: float, media_segments: int
) -> RecordingMetadata:
    """The metadata of a recording with no pause, no black frame and no consent asked."""
    return RecordingMetadata(
        recording_id=recording_id,
        segment_seconds=segment_seconds,
        media_segments=media_segments,
        pauses=[],
        blanked=[],
        consent=ConsentRecord(mode=ConsentMode.NOT_REQUIRED),
        frames_dropped=0,
        frames_left_out=0,
        silence_inserted_samples=[0, 0],
    )
