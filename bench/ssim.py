"""SSIM of two luma planes, and the luma an encoder sees, for the benchmarks in bench/.

SSIM: 8x8 uniform sliding windows at every position (integral images), population
(co)variances, C1 = (0.01 x 255)^2, C2 = (0.03 x 255)^2, the mean of the index map.
"""

from __future__ import annotations

import av
import numpy as np
import numpy.typing as npt

Plane = npt.NDArray[np.uint8]


def box_mean(values: npt.NDArray[np.float64], size: int) -> npt.NDArray[np.float64]:
    """Mean over every size x size window (valid positions only), via an integral image."""
    integral = np.zeros((values.shape[0] + 1, values.shape[1] + 1))
    integral[1:, 1:] = values.cumsum(axis=0).cumsum(axis=1)
    sums = (
        integral[size:, size:]
        - integral[:-size, size:]
        - integral[size:, :-size]
        + integral[:-size, :-size]
    )
    return sums / (size * size)


def ssim(reference: Plane, decoded: Plane, window: int = 8) -> float:
    c1 = (0.01 * 255) ** 2
    c2 = (0.03 * 255) ** 2
    x = reference.astype(np.float64)
    y = decoded.astype(np.float64)
    mean_x, mean_y = box_mean(x, window), box_mean(y, window)
    variance_x = box_mean(x * x, window) - mean_x * mean_x
    variance_y = box_mean(y * y, window) - mean_y * mean_y
    covariance = box_mean(x * y, window) - mean_x * mean_y
    index_map = ((2 * mean_x * mean_y + c1) * (2 * covariance + c2)) / (
        (mean_x * mean_x + mean_y * mean_y + c1) * (variance_x + variance_y + c2)
    )
    return float(index_map.mean())


def bgra_to_yuv420p(bgra: npt.NDArray[np.uint8], colorspace: str = "ITU601") -> Plane:
    """The yuv420p planes (shape H * 3 / 2 x W) libswscale makes of a BGRA grab.

    By default the conversion an encoder applies to untagged frames (BT.601, limited range),
    which is what bench/video_codecs.py and the ffmpeg command line do; "ITU709" for recordings
    tagged BT.709. The reference luma must use the recording's matrix to be comparable.
    """
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(bgra), format="bgra")
    converted = frame.reformat(format="yuv420p", dst_colorspace=colorspace, dst_color_range="MPEG")
    return np.asarray(converted.to_ndarray(), dtype=np.uint8)


def bgra_luma(bgra: npt.NDArray[np.uint8], colorspace: str = "ITU601") -> Plane:
    """The Y plane of `bgra_to_yuv420p`."""
    return bgra_to_yuv420p(bgra, colorspace)[: bgra.shape[0]]
