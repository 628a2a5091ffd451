"""Segments decode from their group's keyframe, join without re-encoding into one gapless
recording, skip stills."""

from __future__ import annotations

import io
import itertools

import av
import numpy as np
import pytest

from agent.capture.encoder import (
    H264_VERYFAST,
    VP9_REALTIME,
    EncodedSegment,
    EncoderSettings,
    VideoCodec,
    fit_frame,
)
from protocol.segments.keyframes import opens_with_keyframe
from tests.helpers.synthetic_recording import (
    first_frame_is_keyframe,
    record_segments,
    stereo_tone,
)
from vault.assemble import AssembleError, join_segments, playable

SECONDS = 25.0
FPS = 5
STILL = (8.0, 14.0)  # nothing changes on screen here
TONE = 440.0


def screen_at(t: float) -> np.ndarray:
    """A 320x240 'screen': a bar that moves, except during the still period."""
    pixels = np.full((240, 320, 4), 235, dtype=np.uint8)
    position = int((STILL[0] if STILL[0] <= t < STILL[1] else t) * 37) % 300
    pixels[100:140, position : position + 20, :3] = (40, 40, 200)
    return pixels


def tone(start_sample: int, count: int) -> np.ndarray:
    return stereo_tone(start_sample, count, left_hz=TONE, right_hz=TONE)


def record(codec: VideoCodec) -> list[EncodedSegment]:
    """Feed frames in real time and audio one second behind, as the capture delivers it."""
    settings = EncoderSettings(codec=codec, width=320, height=240, segment_seconds=10.0)
    return record_segments(settings, seconds=SECONDS, fps=FPS, screen_at=screen_at, sound=tone)


def decode(data: bytes) -> tuple[list[tuple[float, bool]], list[tuple[float, float]]]:
    """Video (time, keyframe) and audio (start, end) spans in seconds."""
    with av.open(io.BytesIO(data), mode="r") as container:
        video = [
            (float(frame.time), frame.key_frame)
            for frame in container.decode(video=0)
            if frame.time is not None
        ]
    with av.open(io.BytesIO(data), mode="r") as container:
        audio = [
            (float(frame.time), float(frame.time) + frame.samples / frame.sample_rate)
            for frame in container.decode(audio=0)
            if frame.time is not None
        ]
    return video, audio


def largest_gap_or_overlap(spans: list[tuple[float, float]]) -> float:
    return max((abs(b[0] - a[1]) for a, b in itertools.pairwise(spans)), default=0.0)


@pytest.mark.parametrize("codec", [VP9_REALTIME, H264_VERYFAST], ids=["vp9-webm", "h264-mp4"])
def test_segments_decode_from_their_keyframe_and_join_gaplessly(codec: VideoCodec) -> None:
    segments = record(codec)
    assert [s.index for s in segments] == [0, 1, 2]
    for segment in segments:
        # At 10 s segments an H.264 keyframe opens every sixth segment; VP9 opens each one.
        opens_group = codec.keyframe_every_segment or segment.index == 0
        assert first_frame_is_keyframe(segment.data) == opens_group, segment.index
        video, audio = decode(join_segments([s.data for s in segments[: segment.index + 1]],
                                            codec.container))  # fmt: skip
        own = [(t, key) for t, key in video if t >= segment.start - 0.001]
        assert own, f"segment {segment.index} has no video"
        assert own[0][1] == opens_group
        assert abs(own[0][0] - segment.start) < 0.25
        own_audio = decode(segment.data)[1]  # audio always decodes alone
        assert own_audio[0][0] == pytest.approx(segment.start, abs=0.05)
        assert largest_gap_or_overlap(own_audio) < 0.05
    joined = join_segments([s.data for s in segments], codec.container)
    video, audio = decode(joined)
    times = [t for t, _ in video]
    assert times == sorted(times)
    assert len(set(times)) == len(times)
    assert largest_gap_or_overlap(audio) < 0.05, "gap or overlap over 50 ms in joined audio"
    assert audio[0][0] == pytest.approx(0.0, abs=0.05)
    assert audio[-1][1] == pytest.approx(SECONDS, abs=0.1)


def test_h264_keyframes_open_the_segments_the_protocol_names() -> None:
    settings = EncoderSettings(codec=H264_VERYFAST, width=160, height=120, segment_seconds=1.0)
    segments = record_segments(
        settings, seconds=14.0, fps=FPS, screen_at=lambda t: screen_at(t)[:120, :160], sound=tone
    )
    opened = [s.index for s in segments if first_frame_is_keyframe(s.data)]
    assert opened == [i for i in range(len(segments)) if opens_with_keyframe(i, 1.0)]
    assert opened == [0, 6, 12]

    # With segment 3 missing, 4 and 5 cannot be decoded; the join goes on at 6.
    present = [(s.index, s.data) for s in segments if s.index != 3]
    kept = playable(present)
    assert kept == [s.data for s in segments if s.index not in (3, 4, 5)]
    video, _ = decode(join_segments(kept, "mp4"))
    assert not [t for t, _ in video if 3.0 <= t < 6.0]
    assert next(key for t, key in video if t >= 6.0)
    assert playable([(s.index, s.data) for s in segments[1:6]]) == []


def test_still_screen_is_skipped() -> None:
    segments = record(VP9_REALTIME)
    skipped = sum(s.frames_skipped for s in segments)
    encoded = sum(s.frames_encoded for s in segments)
    # Six still seconds at 5 fps: all but the first frame of each segment are skipped.
    assert skipped >= (STILL[1] - STILL[0]) * FPS - 3
    assert encoded + skipped == SECONDS * FPS


def test_frames_of_another_size_are_letterboxed_not_stretched() -> None:
    wide = np.full((100, 400, 4), 200, dtype=np.uint8)
    fitted = fit_frame(wide, 320, 240)
    assert fitted.shape == (240, 320, 4)
    assert fitted[:80, :, :3].min() > 150  # scaled to 320x80, keeping its shape
    assert fitted[80:, :, :3].max() == 0


def test_odd_frame_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="even"):
        EncoderSettings(width=321)


def test_join_refuses_garbage_with_the_segment_number() -> None:
    segments = record(VP9_REALTIME)
    with pytest.raises(AssembleError, match="segment 1"):
        join_segments([segments[0].data, b"not media"], "webm")
