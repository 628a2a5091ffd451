"""Waveform peaks for the player's two lanes (agent on the left channel, caller on the right),
computed by the vault so that browsers never decode an hour of audio themselves.

Peaks are derived from the call's audio, so they are personal data: they are computed from the
unsealed segments of a playback, one segment's window at a time, and never stored, so nothing of
them outlives the recording's key.
"""

from __future__ import annotations

import io
import math

import av
import numpy as np

PEAKS_PER_SECOND = 20
MAX_WINDOW_SECONDS = 3600


class PeaksError(ValueError):
    pass


def of_window(
    media: bytes, start_s: float, seconds: float, per_second: int = PEAKS_PER_SECOND
) -> tuple[list[int], list[int]]:
    """Per lane, the loudest sample of each 1/per_second s of [start_s, start_s + seconds),
    scaled 0-255; silence where the media has no audio (a pause, or before it begins)."""
    if not 0 < seconds <= MAX_WINDOW_SECONDS:
        raise PeaksError(f"a waveform window is 0-{MAX_WINDOW_SECONDS} s, not {seconds}")
    buckets = math.ceil(seconds * per_second)
    window: np.ndarray | None = None  # the window's samples, once the sample rate is known
    try:
        container = av.open(io.BytesIO(media), mode="r")
    except av.FFmpegError as exc:
        raise PeaksError(f"the recording's media cannot be read: {exc}") from None
    with container:
        if not container.streams.audio:
            raise PeaksError("the recording has no audio")
        stream = container.streams.audio[0]
        try:
            for frame in container.decode(stream):
                if frame.time is None or not frame.sample_rate:
                    continue
                if window is None:
                    per_bucket = max(1, frame.sample_rate // per_second)
                    window = np.zeros((2, buckets * per_bucket), dtype=np.float32)
                at = round((frame.time - start_s) * per_bucket * per_second)
                _place(window, np.abs(_two_lanes(frame)), at)
        except av.FFmpegError as exc:
            raise PeaksError(f"the recording's audio cannot be decoded: {exc}") from None
    if window is None:
        return [0] * buckets, [0] * buckets
    lanes = window.reshape(2, buckets, -1).max(axis=2)
    scaled = np.minimum(np.round(lanes * 255), 255).astype(np.int64)
    return scaled[0].tolist(), scaled[1].tolist()


def _place(window: np.ndarray, loud: np.ndarray, at: int) -> None:
    """Keep the louder of `loud` (starting `at` samples into the window) and what is there:
    frames may overlap a little where segments meet."""
    first, last = max(0, at), min(window.shape[1], at + loud.shape[1])
    if first < last:
        part = loud[:, first - at : last - at]
        np.maximum(window[:, first:last], part, out=window[:, first:last])


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
