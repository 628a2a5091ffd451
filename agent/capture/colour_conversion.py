"""BGRA grabs to the encoder's yuv420p (BT.709, limited range), converting only what changed.

A business window changes a few lines at a time (a field typed into, a list scrolled), yet a
whole-frame conversion costs as much as encoding the frame (bench/capture.py, issue 16). So
the converter keeps the last frame's planes and converts again only the band of rows that
differ from the last frame. Comparing two frames row by row reads them once, a fraction of a
conversion. The band is converted with `CONTEXT_ROWS` of unchanged rows either side, which
libswscale's filters may read, and only the band itself is copied in: the planes come out
byte for byte as a whole-frame conversion makes them (tests/unit/test_colour_conversion.py).
"""

from __future__ import annotations

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from agent.capture.mask import Pixels

BT709 = 1  # FFmpeg's AVCOL_SPC/PRI/TRC code for ITU-R BT.709
LIMITED_RANGE = 1  # AVCOL_RANGE_MPEG: 16-235, what every browser expects
REACH_ROWS = 4
"""How far a changed row reaches into the chroma of rows around it: libswscale's vertical
chroma filter blends more than the row pair a 4:2:0 sample covers."""
CONTEXT_ROWS = 16
"""Rows converted with the band on either side (then left out), so that the filter reads the
same pixels it reads in a whole-frame conversion; even, as 4:2:0 pairs rows."""


def changed_rows(frame: Pixels, previous: Pixels) -> tuple[int, int] | None:
    """The first and one past the last row where two frames of one size differ; None if equal."""
    height = frame.shape[0]
    # Eight bytes at a time: a C-contiguous BGRA row is a whole number of 8-byte words
    # whenever its width is even, as the encoder's sizes are.
    differs = np.any(
        frame.reshape(height, -1).view(np.uint64) != previous.reshape(height, -1).view(np.uint64),
        axis=1,
    )
    rows = np.flatnonzero(differs)
    if not len(rows):
        return None
    return int(rows[0]), int(rows[-1]) + 1


class ChangedRowsConverter:
    """Converts a recording's frames (one size, even dimensions) in order."""

    def __init__(self) -> None:
        # Kept from frame to frame: a converter per frame set up libswscale's tables again.
        self._converter = VideoReformatter()
        self._last: Pixels | None = None
        self._compared: tuple[Pixels, tuple[int, int]] | None = None
        """A frame that differs from the last one and the band that does, until converted."""
        self._planes: np.ndarray | None = None
        """PyAV's yuv420p array: the Y plane's rows, then the U and V planes' bytes."""

    def repeats_last(self, bgra: Pixels) -> bool:
        """Whether `bgra` is the frame converted last, pixel for pixel. The comparison is
        kept for `convert`, which would otherwise make it again."""
        return self._band(bgra) is None

    def _band(self, bgra: Pixels) -> tuple[int, int] | None:
        """The rows in which `bgra` differs from the last frame (all of them if unlike it)."""
        compared = self._compared
        if compared is not None and compared[0] is bgra:
            return compared[1]
        last = self._last
        if last is None or last.shape != bgra.shape:
            band: tuple[int, int] | None = (0, bgra.shape[0])
        else:
            band = None if bgra is last else changed_rows(bgra, last)
        # Kept only for a frame that differs, which is converted next; a repeated one is
        # skipped, and holding it would keep a whole grab alive for nothing.
        self._compared = None if band is None else (bgra, band)
        return band

    def convert(self, bgra: Pixels) -> av.VideoFrame:
        """A new yuv420p frame of `bgra`; `bgra` must not be changed afterwards (it is the
        next frame's reference)."""
        band, planes = self._band(bgra), self._planes
        self._compared = None
        # A band of every row: the first frame, a new size, or everything changed.
        if planes is None or band == (0, bgra.shape[0]):
            planes = self._yuv(bgra).to_ndarray()
        elif band is not None:
            self._convert_band(bgra, planes, band)
        self._last, self._planes = bgra, planes
        frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
        frame.colorspace, frame.color_range = BT709, LIMITED_RANGE
        return frame

    def _convert_band(self, bgra: Pixels, planes: np.ndarray, band: tuple[int, int]) -> None:
        """Convert rows band[0] to band[1] (widened to whole 4:2:0 pairs) into `planes`."""
        height, width = bgra.shape[:2]
        first = max(0, band[0] - REACH_ROWS) // 2 * 2
        end = min(height, (band[1] + REACH_ROWS + 1) // 2 * 2)
        top, bottom = max(0, first - CONTEXT_ROWS), min(height, end + CONTEXT_ROWS)
        converted = self._yuv(np.ascontiguousarray(bgra[top:bottom]))
        luma, blue, red = (
            np.frombuffer(memoryview(plane), dtype=np.uint8).reshape(plane.height, plane.line_size)
            for plane in converted.planes
        )
        planes[first:end] = luma[first - top : end - top, :width]
        # Then U and V, each height/2 rows of width/2, one after the other.
        chroma_size = (height // 2) * (width // 2)
        flat = planes.reshape(-1)
        for index, plane in enumerate((blue, red)):
            start = height * width + index * chroma_size
            chroma = flat[start : start + chroma_size].reshape(height // 2, width // 2)
            source = plane[(first - top) // 2 : (end - top) // 2, : width // 2]
            chroma[first // 2 : end // 2] = source

    def _yuv(self, bgra: Pixels) -> av.VideoFrame:
        # Wrapped, not copied: the conversion reads it once into a frame of its own.
        wrapped = av.VideoFrame.from_numpy_buffer(np.ascontiguousarray(bgra), format="bgra")
        return self._converter.reformat(
            wrapped,
            format="yuv420p",
            dst_colorspace=BT709,
            dst_color_range=LIMITED_RANGE,
            dst_color_trc=BT709,
            dst_color_primaries=BT709,
            # One thread: a 720p conversion is shorter than handing it out to a pool.
            threads=1,
        )
