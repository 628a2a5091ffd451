"""The X11 window locator's pure parts: WM_CLASS splitting, executable matching, frame
extents and the order of visibility states (the locator on Xvfb: tests/integration/
test_x11_window.py)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from agent.capture.geometry import Rect
from agent.capture.window.base import (
    Visibility,
    WindowMatch,
    WindowSnapshot,
)
from agent.capture.window.x11 import (
    executable_matches,
    outer_rect,
    process_executable_names,
    split_wm_class,
    visibility_of,
)

SCREEN = Rect(0, 0, 1280, 800)


Locate = Callable[[WindowMatch], WindowSnapshot]


def test_split_wm_class_gives_instance_then_class() -> None:
    assert split_wm_class(b"xterm\0XTerm\0") == ("xterm", "XTerm")
    assert split_wm_class(b"caf\xe9\0Caf\xe9\0") == ("café", "Café")
    assert split_wm_class(b"") == ()


def test_executable_matches_exact_names_and_truncated_comm_only_for_long_names() -> None:
    assert executable_matches("xterm", frozenset({"xterm"}))
    assert not executable_matches("xter", frozenset({"xterm"}))
    assert not executable_matches("XTerm", frozenset({"xterm"}))
    long_name = "business-client-app"
    assert executable_matches(long_name, frozenset({long_name[:15]}))
    assert not executable_matches("business-client", frozenset({"business-client-app"}))


def test_process_executable_names_reads_exe_and_comm(tmp_path: Path) -> None:
    own = process_executable_names(os.getpid())
    assert Path(os.path.realpath("/proc/self/exe")).name in own

    fake = tmp_path / "4242"
    fake.mkdir()
    (fake / "comm").write_text("crm-client\n")
    assert process_executable_names(4242, proc=tmp_path) == frozenset({"crm-client"})
    assert process_executable_names(4243, proc=tmp_path) == frozenset()


def test_outer_rect_adds_the_border_on_both_sides() -> None:
    assert outer_rect(10, 20, 100, 50, 2) == Rect(10, 20, 104, 54)


def test_visibility_of_orders_minimised_before_unmapped_before_off_screen() -> None:
    inside, outside = Rect(10, 10, 5, 5), Rect(5000, 10, 5, 5)
    assert visibility_of(viewable=False, minimised=True, client=inside, screen=SCREEN) is (
        Visibility.MINIMISED
    )
    assert visibility_of(viewable=False, minimised=False, client=inside, screen=SCREEN) is (
        Visibility.UNMAPPED
    )
    assert visibility_of(viewable=True, minimised=False, client=outside, screen=SCREEN) is (
        Visibility.OFF_SCREEN
    )
    assert visibility_of(viewable=True, minimised=False, client=inside, screen=SCREEN) is (
        Visibility.VISIBLE
    )
