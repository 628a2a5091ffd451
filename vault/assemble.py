"""Join a recording's decrypted segments into one playable file, without re-encoding.

Segments carry timestamps from the start of the recording, so joining is a remux. The agent
encodes a recording's audio with one Opus encoder and deals its packets out to the segments,
so they continue each other exactly. A packet that would step back in time (a segment sent
twice, or segments from an agent that primed an encoder per segment) is dropped. A segment may
begin with pictures that refer to the segment before (protocol/segments/keyframes.py): where
one is missing, `playable` leaves out those that cannot be decoded without it.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import av


class AssembleError(ValueError):
    """The segments cannot be joined; the message names the segment and the reason."""


def join_segments(segments: Sequence[bytes], container: str) -> bytes:
    if not segments:
        raise AssembleError("no segments to join")
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container) as output:
        out_streams: dict[int, av.stream.Stream] = {}
        last_dts: dict[int, int] = {}
        for number, data in enumerate(segments):
            try:
                source = av.open(io.BytesIO(data), mode="r")
            except av.FFmpegError as exc:
                raise AssembleError(f"segment {number} is not a media file: {exc}") from exc
            with source:
                if not out_streams:
                    for stream in source.streams:
                        out_streams[stream.index] = output.add_stream_from_template(stream)
                elif len(source.streams) != len(out_streams):
                    raise AssembleError(
                        f"segment {number} has {len(source.streams)} streams, the first has"
                        f" {len(out_streams)}"
                    )
                for packet in source.demux():
                    if packet.dts is None:
                        continue  # the demuxer's end-of-stream marker
                    index = packet.stream.index
                    if packet.dts <= last_dts.get(index, -(2**62)):
                        continue
                    last_dts[index] = packet.dts
                    packet.stream = out_streams[index]
                    output.mux(packet)
    return buffer.getvalue()


def playable(segments: Sequence[tuple[int, bytes]]) -> list[bytes]:
    """Of (index, media) in index order, the media a player can decode: a segment that opens
    with a keyframe, and each that directly follows a playable one."""
    kept: list[bytes] = []
    previous: int | None = None
    for index, data in segments:
        if (previous is not None and index == previous + 1) or _opens_with_keyframe(index, data):
            kept.append(data)
            previous = index
    return kept


def _opens_with_keyframe(index: int, data: bytes) -> bool:
    try:
        with av.open(io.BytesIO(data), mode="r") as source:
            if not source.streams.video:
                return True  # nothing refers to anything before it
            # The demuxer's H.264 parser flags a packet from its own slices (IDR or not), not
            # only from the container's sync-sample table, which an MP4 of no keyframe omits.
            first = next((p for p in source.demux(video=0) if p.dts is not None), None)
    except av.FFmpegError as exc:
        raise AssembleError(f"segment {index} is not a media file: {exc}") from exc
    return first is not None and first.is_keyframe
