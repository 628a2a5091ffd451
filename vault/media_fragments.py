"""One media segment made ready for a browser's Media Source Extensions, so a player can start
and seek on a long recording by fetching only the segments it shows (docs/console.md).

A WebM segment is appended as it is: Matroska keeps each segment's times from the recording's
start. An MP4 segment is remuxed into fragmented MP4, which MSE needs; FFmpeg's muxer starts
every track of a fragmented file at zero, so the decode time of each fragment (`tfdt`) is put
back to where the segment lies in the recording, and the last frame lasts to the segment's end.
No frame is decoded or re-encoded.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av

from protocol.segments.format import MediaType

FRAGMENTED_MP4 = "frag_keyframe+empty_moov+default_base_moof"
_BOX = struct.Struct(">I4s")


class FragmentError(ValueError):
    """The segment's media cannot be made playable; the message says why."""


@dataclass(frozen=True, slots=True)
class SegmentSpan:
    stream_type: str
    """The MIME type with codecs that MediaSource.addSourceBuffer takes."""
    end_s: float
    """Where the segment's last frame or audio packet ends, from the recording's start."""


def for_browser(segment: bytes, media_type: MediaType) -> bytes:
    if media_type is MediaType.MATROSKA:
        return segment
    if media_type is MediaType.MP4:
        return _fragmented_mp4(segment)
    raise FragmentError(f"a {media_type.label} segment is not media")


def span_of(segment: bytes, media_type: MediaType) -> SegmentSpan:
    try:
        with av.open(io.BytesIO(segment), mode="r") as source:
            codecs = [_codec_tag(stream) for stream in source.streams]
            end = float(max((_end_of(packet) for packet in source.demux()), default=0))
    except av.FFmpegError as exc:
        raise FragmentError(f"the segment is not a media file: {exc}") from None
    container = "video/webm" if media_type is MediaType.MATROSKA else "video/mp4"
    return SegmentSpan(f'{container}; codecs="{",".join(codecs)}"', end)


def _codec_tag(stream: av.stream.Stream) -> str:
    """The RFC 6381 codec name browsers check before they accept a stream."""
    name = stream.codec_context.name
    if name == "h264":
        extradata = stream.codec_context.extradata or b""
        if len(extradata) >= 4 and extradata[0] == 1:  # avcC: profile, constraints, level
            return "avc1." + extradata[1:4].hex().upper()
        return "avc1.42E01F"
    return {"vp9": "vp9", "vp8": "vp8", "opus": "opus", "aac": "mp4a.40.2"}.get(name, name)


def _fragmented_mp4(segment: bytes) -> bytes:
    output = io.BytesIO()
    first_decode: dict[int, Fraction] = {}
    try:
        with (
            av.open(io.BytesIO(segment), mode="r") as source,
            av.open(output, mode="w", format="mp4", options={"movflags": FRAGMENTED_MP4}) as out,
        ):
            streams = {s.index: out.add_stream_from_template(s) for s in source.streams}
            timed = [
                (p, p.dts * p.time_base)
                for p in source.demux()
                if p.dts is not None and p.time_base is not None  # None: end of stream
            ]
            _last_frame_to_the_end([p for p, _ in timed])
            for packet, decode_at in timed:
                first_decode.setdefault(packet.stream.index, decode_at)
                packet.stream = streams[packet.stream.index]
                out.mux(packet)
    except av.FFmpegError as exc:
        raise FragmentError(f"the segment cannot be remuxed: {exc}") from None
    # The muxer numbers tracks from 1 in the order the streams were added.
    return restore_decode_times(output.getvalue(), {i + 1: t for i, t in first_decode.items()})


def _last_frame_to_the_end(packets: list[av.Packet[Any]]) -> None:
    """Make the segment's last video frame last until its audio ends (the segment's end).

    Its muxed duration is otherwise a guess, often a fraction of the time to the next
    segment's first frame; a browser takes a gap of over twice the last frame's duration for a
    discontinuity and drops frames until the next keyframe, which, in a segment that does not
    open with one (protocol/segments/keyframes.py), is the whole segment."""
    end = max((_end_of(p) for p in packets), default=None)
    last = next((p for p in reversed(packets) if p.stream.type == "video"), None)
    if end is None or last is None or last.pts is None or last.time_base is None:
        return
    lasting = round((end - last.pts * last.time_base) / last.time_base)
    if lasting > (last.duration or 0):
        last.duration = lasting


def _end_of(packet: av.Packet[Any]) -> Fraction:
    if packet.pts is None or packet.time_base is None:
        return Fraction(0)
    return (packet.pts + (packet.duration or 0)) * packet.time_base


def restore_decode_times(fragmented: bytes, start_by_track: dict[int, Fraction]) -> bytes:
    """Add each track's start (seconds) to the decode time of each of its fragments."""
    data = bytearray(fragmented)
    scales: dict[int, int] = {}
    for moov in _children(data, 0, len(data), b"moov"):
        for track_number, trak in enumerate(_children(data, *moov, b"trak"), start=1):
            for mdia in _children(data, *trak, b"mdia"):
                for mdhd in _children(data, *mdia, b"mdhd"):
                    version = data[mdhd[0]]
                    scales[track_number] = _read(data, mdhd[0] + (20 if version == 1 else 12), 4)
    for moof in _children(data, 0, len(data), b"moof"):
        for traf in _children(data, *moof, b"traf"):
            track = next((_read(data, h[0] + 4, 4) for h in _children(data, *traf, b"tfhd")), None)
            if track not in scales or track not in start_by_track:
                raise FragmentError(f"fragment of track {track} has no matching track header")
            shift = round(start_by_track[track] * scales[track])
            for start, end in _children(data, *traf, b"tfdt"):
                width = 8 if data[start] == 1 else 4
                if end - start < 4 + width:
                    raise FragmentError("a fragment's decode time box is too short")
                # The first segment's audio begins a few ms before zero (the Opus encoder's
                # priming); a decode time cannot be negative, so it starts at zero.
                moved = max(0, _read(data, start + 4, width) + shift)
                if moved >= 1 << (8 * width):
                    raise FragmentError("a fragment's decode time does not fit its box")
                data[start + 4 : start + 4 + width] = moved.to_bytes(width, "big")
    return bytes(data)


def _children(data: bytearray, start: int, end: int, kind: bytes) -> Iterator[tuple[int, int]]:
    """The (content start, end) of each box of `kind` directly inside [start, end)."""
    at = start
    while at + _BOX.size <= end:
        size, found = _BOX.unpack_from(data, at)
        if size < _BOX.size or at + size > end:
            raise FragmentError(f"box {found!r} at byte {at} has a bad size {size}")
        if found == kind:
            yield at + _BOX.size, at + size
        at += size


def _read(data: bytearray, at: int, width: int) -> int:
    if at + width > len(data):
        raise FragmentError(f"a box ends inside a field at byte {at}")
    return int.from_bytes(data[at : at + width], "big")
