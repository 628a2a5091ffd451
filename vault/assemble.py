"""Join a recording's decrypted segments into one playable file, without re-encoding.

Segments carry timestamps from the start of the recording, so joining is a remux. The agent
encodes a recording's audio with one Opus encoder and deals its packets out to the segments,
so they continue each other exactly. A packet that would step back in time (a segment sent
twice, or segments from an agent that primed an encoder per segment) is dropped.
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
