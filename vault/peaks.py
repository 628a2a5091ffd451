"""Waveform peaks for the player's two lanes (agent on the left channel, caller on the right),
computed by the vault so that browsers never decode an hour of audio themselves.

Peaks are derived from the call's audio, so they are personal data: they are computed from the
unsealed media of a playback and never stored, so nothing of them outlives the recording's key.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import av
import numpy as np

PEAKS_PER_SECOND = 20
MAX_SECONDS = 24 * 3600


class PeaksError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Peaks:
    per_second: int
    duration_s: float
    lanes: tuple[list[int], list[int]]
    """Per lane, the loudest sample of each 1/per_second s, scaled 0-255."""


def compute(media: bytes, per_second: int = PEAKS_PER_SECOND) -> Peaks:
    try:
        container = av.open(io.BytesIO(media), mode="r")
    except av.FFmpegError as exc:
        raise PeaksError(f"the recording's media cannot be read: {exc}") from None
    with container:
        if not container.streams.audio:
            raise PeaksError("the recording has no audio")
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate or 48000
        bucket = max(1, rate // per_second)
        limit = MAX_SECONDS * rate
        reduced: list[np.ndarray] = []
        pending = np.zeros((2, 0), dtype=np.float32)
        position = 0  # samples taken since the first frame
        origin: float | None = None
        try:
            for frame in container.decode(stream):
                at = float(frame.time) if frame.time is not None else position / rate
                origin = at if origin is None else origin
                first = round((at - origin) * rate)
                samples = _two_lanes(frame)
                if first + samples.shape[1] > limit:
                    raise PeaksError(f"the recording is longer than {MAX_SECONDS // 3600} hours")
                if first > position:  # a gap (segments missing): silence, so lanes stay in time
                    samples = np.concatenate(
                        [np.zeros((2, first - position), dtype=np.float32), samples], axis=1
                    )
                elif first < position:  # overlapping packets: keep what is new
                    samples = samples[:, position - first :]
                position += samples.shape[1]
                pending = np.concatenate([pending, samples], axis=1)
                whole = pending.shape[1] // bucket * bucket
                if whole:
                    reduced.append(np.abs(pending[:, :whole]).reshape(2, -1, bucket).max(axis=2))
                    pending = pending[:, whole:]
        except av.FFmpegError as exc:
            raise PeaksError(f"the recording's audio cannot be decoded: {exc}") from None
        if pending.shape[1]:
            reduced.append(np.abs(pending).max(axis=1, keepdims=True))
    lanes = np.concatenate(reduced, axis=1) if reduced else np.zeros((2, 0), dtype=np.float32)
    scaled = np.minimum(np.round(lanes * 255), 255).astype(np.int64)
    return Peaks(per_second, position / rate, (scaled[0].tolist(), scaled[1].tolist()))


def _two_lanes(frame: av.AudioFrame) -> np.ndarray:
    """The frame's samples as float32 (2, n): mono is shown on both lanes."""
    samples = frame.to_ndarray()
    channels = frame.layout.nb_channels
    if not frame.format.is_planar:
        samples = samples.reshape(-1, channels).T
    if samples.dtype == np.int16:
        samples = samples.astype(np.float32) / 32768.0
    elif samples.dtype == np.int32:
        samples = samples.astype(np.float32) / 2147483648.0
    else:
        samples = samples.astype(np.float32)
    if samples.shape[0] == 1:
        return np.repeat(samples, 2, axis=0)
    return samples[:2]
