"""Frame timestamps survive encoding and joining exactly (to the container's precision).

Audio is the master clock, so a grab's time is its presentation time: rounding it to a frame
rate would shift the picture against the sound by up to half a frame interval.
"""

from __future__ import annotations

import io

import av
import numpy as np
import pytest

from agent.capture.encoder import (
    H264_VERYFAST,
    VP9_REALTIME,
    EncodedSegment,
    EncoderSettings,
    Segmenter,
    VideoCodec,
)
from vault.assemble import join_segments

# Container precision: WebM stores milliseconds; the MP4 muxer picks its own track time scale.
PRECISION = {"webm": 0.001, "mp4": 0.0005}


@pytest.mark.parametrize("codec", [VP9_REALTIME, H264_VERYFAST], ids=lambda c: c.container)
def test_irregular_grab_times_are_the_decoded_frame_times(codec: VideoCodec) -> None:
    grab_times = [round(0.0437 * n + 0.011 * (n % 3), 4) for n in range(50)]
    segments: list[EncodedSegment] = []
    segmenter = Segmenter(
        EncoderSettings(codec=codec, width=320, height=240, segment_seconds=1), segments.append
    )
    for number, at in enumerate(grab_times):
        pixels = np.zeros((240, 320, 4), dtype=np.uint8)
        pixels[:, :, :3] = number * 5  # every frame differs, so none is skipped
        segmenter.add_frame(pixels, at)
    segmenter.add_audio(np.zeros((round(48_000 * 2.3), 2), dtype=np.int16), 0.0)
    segmenter.finish()

    joined = join_segments([segment.data for segment in segments], codec.container)
    with av.open(io.BytesIO(joined), mode="r") as container:
        decoded = [float(frame.time or 0.0) for frame in container.decode(video=0)]
    assert decoded == pytest.approx(grab_times, abs=PRECISION[codec.container])


@pytest.mark.parametrize("codec", [VP9_REALTIME, H264_VERYFAST], ids=lambda c: c.container)
def test_joined_audio_is_continuous_across_segment_joins(codec: VideoCodec) -> None:
    """One Opus encoder for the recording: no priming or padding gap at the joins."""
    rate, seconds = 48_000, 3.0
    tone = np.sin(2 * np.pi * 1_000 * np.arange(round(rate * seconds)) / rate)
    stereo = np.repeat((tone * 8_000).astype(np.int16)[:, None], 2, axis=1)
    segments: list[EncodedSegment] = []
    segmenter = Segmenter(
        EncoderSettings(codec=codec, width=64, height=64, segment_seconds=1), segments.append
    )
    segmenter.add_frame(np.zeros((64, 64, 4), dtype=np.uint8), 0.0)
    for start in range(0, len(stereo), 1_234):  # blocks that do not line up with Opus frames
        segmenter.add_audio(stereo[start : start + 1_234], start / rate)
    segmenter.finish()
    assert [segment.index for segment in segments] == [0, 1, 2]

    joined = join_segments([segment.data for segment in segments], codec.container)
    with av.open(io.BytesIO(joined), mode="r") as container:
        frames = list(container.decode(audio=0))
    assert float(frames[0].time or 0.0) == pytest.approx(0.0, abs=1e-3)
    left = np.concatenate([np.asarray(frame.to_ndarray())[0] for frame in frames])
    # WebM marks the last packet's padding; MP4 has no way to without an edit list.
    assert len(left) / rate == pytest.approx(
        seconds, abs=0.001 if codec.container == "webm" else 0.015
    )
    for join in (1.0, 2.0):
        around = left[round((join - 0.05) * rate) : round((join + 0.05) * rate)]
        windows = around[: len(around) // 240 * 240].reshape(-1, 240)  # 5 ms each
        quietest = float(np.sqrt((windows**2).mean(axis=1)).min())
        assert quietest > 0.1, f"a gap in the tone at the {join:g} s join (RMS {quietest:.3f})"


@pytest.mark.parametrize("codec", [VP9_REALTIME, H264_VERYFAST], ids=lambda c: c.container)
def test_a_hang_up_just_after_a_segment_boundary_still_joins(codec: VideoCodec) -> None:
    """The last grab can fall after the last audio packet began, in a segment of its own."""
    rate = 48_000
    segments: list[EncodedSegment] = []
    segmenter = Segmenter(
        EncoderSettings(codec=codec, width=64, height=64, segment_seconds=1), segments.append
    )
    for number, at in enumerate((0.0, 0.5, 1.0, 1.5, 2.002)):
        segmenter.add_frame(np.full((64, 64, 4), number * 40, dtype=np.uint8), at)
    segmenter.add_audio(np.zeros((round(rate * 2.005), 2), dtype=np.int16), 0.0)
    segmenter.finish()

    assert [segment.index for segment in segments] == [0, 1]
    assert segmenter.frames_left_out == 1
    joined = join_segments([segment.data for segment in segments], codec.container)
    with av.open(io.BytesIO(joined), mode="r") as container:
        assert len(container.streams) == 2
