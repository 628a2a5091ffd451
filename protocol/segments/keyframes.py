"""Which media segments open with a video keyframe: where a player may start decoding.

One video encoder runs for the whole recording, so a segment need not open with a keyframe:
its first frames may refer to the segment before. Keyframes are what most of a still
screen's bytes are (about 35 KB each at 1280x720, docs/benchmarks.md), so H.264 recordings
put one in every KEYFRAME_EVERY_SEGMENTS-th segment only, at most one a minute apart. The
crash loss window stays one segment: a killed agent loses the open segment, and nothing
before it refers forward.

The promise players rely on: every segment whose index is a multiple of KEYFRAME_EVERY_SEGMENTS
opens with a keyframe. An agent may put one in more segments (older agents put one in every
segment, VP9 recordings still do), which only makes a player fetch a little more than it needs.
The rule counts segments, not seconds, so a vault that knows a recording's segment length
only roughly (a crashed agent wrote no metadata) still finds the same segments.
"""

from __future__ import annotations

KEYFRAME_EVERY_SEGMENTS = 6
"""A keyframe opens every sixth segment at least (a minute, at the default 10 s segments)."""

MAX_KEYFRAME_SPACING_S = 60.0
"""The agent puts keyframes closer than this when segments are long: a player seeking into
a group decodes from its keyframe, so the group bounds what a seek fetches and decodes."""


def segments_per_keyframe(segment_seconds: float) -> int:
    """How many segments the agent's keyframes are apart: the largest divisor of
    KEYFRAME_EVERY_SEGMENTS that keeps them within MAX_KEYFRAME_SPACING_S (at least one)."""
    if segment_seconds <= 0:
        raise ValueError(f"segment length must be positive, got {segment_seconds}")
    fitting = [
        n
        for n in range(1, KEYFRAME_EVERY_SEGMENTS + 1)
        if KEYFRAME_EVERY_SEGMENTS % n == 0 and n * segment_seconds <= MAX_KEYFRAME_SPACING_S + 1e-9
    ]
    return max(fitting, default=1)


def opens_with_keyframe(index: int, segment_seconds: float) -> bool:
    """Whether the agent opens segment `index` with a keyframe."""
    return index % segments_per_keyframe(segment_seconds) == 0
