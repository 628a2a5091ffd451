"""Screen rectangles. Pure: shared by the window locators, the mask and the grabber."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Rect:
    """A rectangle in screen pixels; `x`, `y` is the top-left corner, sizes are never negative."""

    x: int
    y: int
    width: int
    height: int

    def __post_init__(self) -> None:
        if self.width < 0 or self.height < 0:
            raise ValueError(f"rectangle size must not be negative: {self}")

    @property
    def right(self) -> int:
        return self.x + self.width

    @property
    def bottom(self) -> int:
        return self.y + self.height

    @property
    def is_empty(self) -> bool:
        return self.width == 0 or self.height == 0

    def intersection(self, other: Rect) -> Rect | None:
        left, top = max(self.x, other.x), max(self.y, other.y)
        right, bottom = min(self.right, other.right), min(self.bottom, other.bottom)
        if right <= left or bottom <= top:
            return None
        return Rect(left, top, right - left, bottom - top)

    def relative_to(self, origin: Rect) -> Rect:
        """This rectangle in the coordinates of `origin`'s top-left corner."""
        return Rect(self.x - origin.x, self.y - origin.y, self.width, self.height)
