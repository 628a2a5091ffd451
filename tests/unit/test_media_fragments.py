"""Segments made ready for a browser's MediaSource keep their place in the recording, each
segment's waveform lies where its audio does, and its sealed copy opens only under its own key
for its own segment. Made with the agent's real encoder."""

from __future__ import annotations

import functools
import io
import re
import struct
import uuid
from collections.abc import Callable
from fractions import Fraction

import av
import numpy as np
import pytest

from agent.capture.encoder import H264_VERYFAST, VP9_REALTIME, EncoderSettings, VideoCodec
from protocol.segments.format import MediaType
from tests.helpers.synthetic_recording import record_segments, stereo_tone
from vault import peaks, sealed_peaks
from vault.media_fragments import FragmentError, for_browser, restore_decode_times, span_of

SEGMENT_S = 2.0


def _segments(codec: VideoCodec) -> tuple[bytes, ...]:
    return _made(codec.media_type)


@functools.cache
def _made(media_type: MediaType) -> tuple[bytes, ...]:
    codec = H264_VERYFAST if media_type is MediaType.MP4 else VP9_REALTIME
    settings = EncoderSettings(codec=codec, width=160, height=120, segment_seconds=SEGMENT_S)
    screen = np.zeros((120, 160, 4), dtype=np.uint8)

    def screen_at(t: float) -> np.ndarray:
        screen[..., 2] = int(t * 40) % 255  # changes, so every grab is encoded
        return screen

    def sound(start: int, count: int) -> np.ndarray:
        tone = stereo_tone(start, count, left_hz=440, right_hz=660)
        tone[:, 1] = 0  # the caller is silent: the lanes must not be swapped or merged
        return tone

    made = record_segments(settings, seconds=6.0, fps=5, screen_at=screen_at, sound=sound)
    return tuple(s.data for s in made)


def _starts(media: bytes) -> dict[str, float]:
    with av.open(io.BytesIO(media)) as container:
        return {
            s.type: float(s.start_time * s.time_base)
            for s in container.streams
            if s.start_time is not None and s.time_base is not None
        }


def _is_fragmented(media: bytes) -> bool:
    kinds, at = [], 0
    while at + 8 <= len(media):
        size, kind = struct.unpack_from(">I4s", media, at)
        kinds.append(kind)
        at += size
    return b"moof" in kinds and b"moov" in kinds


@pytest.mark.parametrize("index", [0, 1, 2])
def test_an_mp4_segment_becomes_fragmented_and_keeps_its_place(index: int) -> None:
    segment = _segments(H264_VERYFAST)[index]
    fragment = for_browser(segment, MediaType.MP4)
    assert _is_fragmented(fragment)
    assert not _is_fragmented(segment)
    assert _starts(fragment)["video"] == pytest.approx(_starts(segment)["video"], abs=0.002)
    assert _starts(fragment)["audio"] == pytest.approx(_starts(segment)["audio"], abs=0.002)
    assert _starts(fragment)["video"] == pytest.approx(index * SEGMENT_S, abs=0.25)


def _video_ends(media: bytes) -> tuple[float, float]:
    """Where the last video frame starts and where it ends, in seconds."""
    with av.open(io.BytesIO(media), mode="r") as container:
        last = [p for p in container.demux(video=0) if p.pts is not None][-1]
        assert last.pts is not None
        assert last.time_base is not None
        return float(last.pts * last.time_base), float(
            (last.pts + (last.duration or 0)) * last.time_base
        )


@pytest.mark.parametrize("index", [0, 1])
def test_the_last_frame_of_a_fragment_lasts_until_the_next_segment(index: int) -> None:
    # A shorter one leaves a gap a browser takes for a discontinuity: it then drops the next
    # segment's frames up to a keyframe, and a segment that does not open with one is lost.
    segment = _segments(H264_VERYFAST)[index]
    start, end = _video_ends(for_browser(segment, MediaType.MP4))
    assert start < (index + 1) * SEGMENT_S - 0.1
    assert end == pytest.approx((index + 1) * SEGMENT_S, abs=0.03)


def test_a_webm_segment_is_appended_as_it_is() -> None:
    segment = _segments(VP9_REALTIME)[1]
    assert for_browser(segment, MediaType.MATROSKA) is segment
    assert _starts(segment)["video"] == pytest.approx(SEGMENT_S, abs=0.25)


@pytest.mark.parametrize(
    ("codec", "media_type", "expected"),
    [
        (H264_VERYFAST, MediaType.MP4, r'video/mp4; codecs="avc1.[0-9A-F]{6},opus"'),
        (VP9_REALTIME, MediaType.MATROSKA, r'video/webm; codecs="vp9,opus"'),
    ],
)
def test_the_span_names_the_codecs_and_where_the_segment_ends(
    codec: VideoCodec, media_type: MediaType, expected: str
) -> None:
    last = _segments(codec)[-1]
    span = span_of(last, media_type)
    assert span.end_s == pytest.approx(3 * SEGMENT_S, abs=0.25)
    assert re.fullmatch(expected, span.stream_type)


def test_the_metadata_segment_is_not_media() -> None:
    with pytest.raises(FragmentError, match="not media"):
        for_browser(b"{}", MediaType.JSON)


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d[:-3],  # a box runs past the end
        lambda d: b"\x00\x00\x00\x04moov" + d,  # a box smaller than its own header
    ],
)
def test_a_damaged_fragment_is_refused_by_name(damage: Callable[[bytes], bytes]) -> None:
    fragment = for_browser(_segments(H264_VERYFAST)[0], MediaType.MP4)
    with pytest.raises(FragmentError, match="box"):
        restore_decode_times(damage(fragment), {1: Fraction(0), 2: Fraction(0)})


def test_a_segment_waveform_lies_in_its_window_with_the_lanes_apart() -> None:
    second = _segments(H264_VERYFAST)[1]
    agent, caller = peaks.of_window(second, SEGMENT_S, SEGMENT_S)
    assert len(agent) == len(caller) == SEGMENT_S * peaks.PEAKS_PER_SECOND
    assert min(agent[1:-1]) > 40  # the tone fills the window
    assert max(caller) <= 1
    before, _ = peaks.of_window(second, 0.0, SEGMENT_S)  # where this segment has no audio
    assert max(before[:-1]) == 0


def test_a_window_longer_than_an_hour_is_refused() -> None:
    with pytest.raises(peaks.PeaksError, match="window"):
        peaks.of_window(_segments(H264_VERYFAST)[0], 0.0, 3601)


def test_sealed_peaks_open_only_under_their_key_for_their_segment() -> None:
    rid, key = uuid.uuid4(), sealed_peaks.peaks_key(b"k" * 32)
    lanes = ([0, 7, 255], [3, 0, 128])
    sealed = sealed_peaks.seal(key, rid, 4, 20, lanes)
    assert sealed_peaks.open_sealed(key, rid, 4, 20, sealed) == lanes
    assert bytes([0, 7, 255, 3, 0, 128]) not in sealed
    other_key = sealed_peaks.peaks_key(b"x" * 32)
    wrong: list[tuple[bytes, uuid.UUID, int, int, bytes]] = [
        (other_key, rid, 4, 20, sealed),
        (key, uuid.uuid4(), 4, 20, sealed),
        (key, rid, 5, 20, sealed),
        (key, rid, 4, 10, sealed),
        (key, rid, 4, 20, sealed[:-1] + bytes([sealed[-1] ^ 1])),
        (key, rid, 4, 20, b"short"),
    ]
    for arguments in wrong:
        with pytest.raises(sealed_peaks.SealedPeaksError):
            sealed_peaks.open_sealed(*arguments)
