"""Which pixels of the business window may be kept. Pure: rectangles in, boolean mask out.

A pixel is kept only if it lies in the whitelisted window's client area, on the screen, under
no window stacked above it, and outside every fixed redaction area from policy (R7). Anything
else is stored black.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

from agent.capture.geometry import Rect

Mask = npt.NDArray[np.bool_]
Pixels = npt.NDArray[np.uint8]


def kept_pixels_mask(
    target: Rect,
    screen: Rect,
    occluders: Iterable[Rect] = (),
    redactions: Iterable[Rect] = (),
) -> Mask:
    """Mask of `target`'s size; True where the pixel may be kept.

    `target`, `screen` and `occluders` are in screen coordinates; `redactions` are relative to
    the target's top-left corner, so policy can name a field inside the application.
    """
    mask = np.zeros((target.height, target.width), dtype=np.bool_)
    on_screen = target.intersection(screen)
    if on_screen is None:
        return mask
    _fill(mask, on_screen.relative_to(target), value=True)
    for hidden in hidden_areas(target, occluders, redactions):
        _fill(mask, hidden, value=False)
    return mask


def hidden_areas(
    target: Rect, occluders: Iterable[Rect] = (), redactions: Iterable[Rect] = ()
) -> list[Rect]:
    """The parts of `target` (relative to its top-left corner) under a window stacked above it
    or in a redaction area: with the part off screen, everything `kept_pixels_mask` drops.

    Rectangles instead of a mask let a frame be blacked out by zeroing a few slices, with no
    pass over the pixels that are kept (most frames have nothing to hide)."""
    areas = [
        covered.relative_to(target)
        for occluder in occluders
        if (covered := occluder.intersection(target)) is not None
    ]
    window_area = Rect(0, 0, target.width, target.height)
    areas += [
        hidden
        for redaction in redactions
        if (hidden := redaction.intersection(window_area)) is not None
    ]
    return areas


def _fill(mask: Mask, area: Rect, *, value: bool) -> None:
    mask[area.y : area.bottom, area.x : area.right] = value


def black_out(pixels: Pixels, mask: Mask) -> Pixels:
    """Zero every pixel the mask does not keep, in place; returns `pixels`."""
    if pixels.shape[:2] != mask.shape:
        raise ValueError(f"frame {pixels.shape[:2]} and mask {mask.shape} differ in size")
    pixels[~mask] = 0
    return pixels


def black_out_areas(pixels: Pixels, areas: Iterable[Rect]) -> Pixels:
    """Zero every pixel in `areas` (rectangles inside the frame), in place; returns `pixels`."""
    for area in areas:
        pixels[area.y : area.bottom, area.x : area.right] = 0
    return pixels
