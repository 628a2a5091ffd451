"""Random rectangles for property tests of the masking (hypothesis)."""

from __future__ import annotations

from hypothesis import strategies as st

from agent.capture.geometry import Rect


def rects(limit: int = 40) -> st.SearchStrategy[Rect]:
    """Rectangles around the origin, empty ones and ones partly off the screen included."""
    return st.builds(
        Rect,
        st.integers(-limit, limit),
        st.integers(-limit, limit),
        st.integers(0, limit),
        st.integers(0, limit),
    )
