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
