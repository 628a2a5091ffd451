"""The X11 window locator against a real X server (Xvfb) and window manager (openbox).

X facts these tests pin down (openbox 3.6 on Xvfb):
- openbox frames are root children with X border width 0 that draw their own 1-pixel border;
  `_NET_FRAME_EXTENTS` is left 1, right 1, top 20 (title bar), bottom 5 (handle), and the frame
  window's rectangle is exactly the client rectangle grown by those extents.
- Minimising (`xdotool windowminimize`) sets WM_STATE Iconic and `_NET_WM_STATE_HIDDEN` and
  unmaps the client and its frame.
- Unmapping a client (`xdotool windowunmap`) withdraws it: openbox reparents it back to the root
  and deletes WM_STATE and `_NET_WM_STATE`, so it is no longer minimised but simply unmapped.
- Windows asking for static gravity with a user position have their client area placed
  exactly where asked, title bar above it.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from Xlib.display import Display

from agent.capture.geometry import Rect
from agent.capture.window.base import (
    LocatorUnavailableError,
    Visibility,
    WindowMatch,
    WindowSnapshot,
)
from agent.capture.window.factory import create_locator
from agent.capture.window.x11 import (
    X11WindowLocator,
)
from testbed.waiting import wait_for
from testbed.x_display import XServer, running_x_server
from tests.helpers.desktop import Desktop, SpawnedWindow

BUSINESS = Rect(200, 150, 300, 200)

Locate = Callable[[WindowMatch], WindowSnapshot]


@pytest.fixture
def name() -> str:
    """A per-test name so windows of earlier tests can never match."""
    return f"callreel{uuid.uuid4().hex[:10]}"


@pytest.fixture
def locate(x_display: XServer) -> Iterator[Locate]:
    """Snapshots through one locator per whitelist, all closed after the test."""
    locators: dict[WindowMatch, X11WindowLocator] = {}

    def snapshot(match: WindowMatch) -> WindowSnapshot:
        if match not in locators:
            locators[match] = X11WindowLocator(match)
        return locators[match].snapshot()

    yield snapshot
    for locator in locators.values():
        locator.close()


def _frame_extents(x_display: XServer, spawned: SpawnedWindow) -> tuple[int, int, int, int]:
    display = Display(x_display.display)
    try:
        window = display.create_resource_object("window", spawned.window_id)
        extents = window.get_full_property(display.intern_atom("_NET_FRAME_EXTENTS"), 0)
        assert extents is not None
        left, right, top, bottom = (int(value) for value in extents.value)
        return left, right, top, bottom
    finally:
        display.close()


def _business(desktop: Desktop, name: str, geometry: Rect = BUSINESS) -> SpawnedWindow:
    return desktop.spawn_colour_window(
        geometry=geometry, title=f"CRM {name} - customer", wm_class=name, colour="00ff00"
    )


# --- pure helpers -------------------------------------------------------------------------


def test_unreachable_display_is_reported_with_its_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPLAY", ":9876")
    locator = create_locator(WindowMatch(window_class="anything"))  # connects lazily
    with pytest.raises(LocatorUnavailableError, match=r"':9876'.*set DISPLAY"):
        locator.snapshot()
    locator.close()


# --- finding the window -------------------------------------------------------------------


def test_finds_xterm_by_executable_and_reads_its_wm_name(
    desktop: Desktop, locate: Locate, name: str
) -> None:
    xterm = desktop.spawn_xterm(title=f"{name} terminal")
    snapshot = locate(WindowMatch(executable="xterm"))
    assert snapshot.visibility is Visibility.VISIBLE
    assert snapshot.window_id == xterm.window_id
    assert snapshot.title == f"{name} terminal"  # from WM_NAME: xterm sets no _NET_WM_NAME


def test_executable_is_not_matched_by_a_window_of_another_program(
    desktop: Desktop, locate: Locate, name: str
) -> None:
    _business(desktop, name)
    assert locate(WindowMatch(executable="xterm", window_class=name)).visibility is (
        Visibility.MISSING
    )


def test_finds_by_window_class_or_instance(desktop: Desktop, locate: Locate, name: str) -> None:
    business = _business(desktop, name)
    by_class = locate(WindowMatch(window_class=name))
    assert by_class.window_id == business.window_id
    assert by_class.title == f"CRM {name} - customer"
    assert locate(WindowMatch(window_class="colour_window", title_pattern=name)).window_id == (
        business.window_id
    )
    assert locate(WindowMatch(window_class=name.upper())).visibility is Visibility.MISSING


def test_finds_by_title_pattern(desktop: Desktop, locate: Locate, name: str) -> None:
    business = _business(desktop, name)
    assert locate(WindowMatch(title_pattern=rf"^CRM {name} -")).window_id == business.window_id
    assert locate(WindowMatch(title_pattern=rf"^{name}")).visibility is Visibility.MISSING


def test_every_field_set_must_match(desktop: Desktop, locate: Locate, name: str) -> None:
    business = _business(desktop, name)
    both = locate(WindowMatch(window_class=name, title_pattern="customer$"))
    assert both.window_id == business.window_id
    assert locate(WindowMatch(window_class=name, title_pattern="supplier")).visibility is (
        Visibility.MISSING
    )
    assert locate(WindowMatch(window_class="other", title_pattern="customer$")).visibility is (
        Visibility.MISSING
    )


def test_topmost_of_several_matching_windows_wins(
    desktop: Desktop, locate: Locate, name: str
) -> None:
    first = _business(desktop, name)
    second = _business(desktop, name, Rect(600, 300, 200, 150))
    match = WindowMatch(window_class=name)
    assert locate(match).window_id == second.window_id
    desktop.raise_window(first)
    assert locate(match).window_id == first.window_id


def test_target_is_the_client_area_without_the_title_bar(
    desktop: Desktop, locate: Locate, name: str, x_display: XServer
) -> None:
    business = _business(desktop, name)
    snapshot = locate(WindowMatch(window_class=name))
    assert snapshot.screen == x_display.screen
    assert snapshot.target == BUSINESS
    assert snapshot.occluders == ()
    left, right, top, bottom = _frame_extents(x_display, business)
    assert top > bottom > 0, "openbox draws a title bar above the client area"
    assert desktop.frame_rect(business) == Rect(
        BUSINESS.x - left,
        BUSINESS.y - top,
        BUSINESS.width + left + right,
        BUSINESS.height + top + bottom,
    )


# --- what covers it -----------------------------------------------------------------------


def test_covering_window_is_an_occluder_with_its_title_bar(
    desktop: Desktop, locate: Locate, name: str, x_display: XServer
) -> None:
    _business(desktop, name)
    cover_client = Rect(400, 280, 250, 150)
    cover = desktop.spawn_colour_window(
        geometry=cover_client, title="chat", wm_class=f"{name}cover", colour="ff0000"
    )
    snapshot = locate(WindowMatch(window_class=name))
    assert snapshot.visibility is Visibility.VISIBLE
    (occluder,) = snapshot.occluders
    _, _, title_bar, _ = _frame_extents(x_display, cover)
    assert occluder == desktop.frame_rect(cover)
    assert occluder.intersection(cover_client) == cover_client, "contains the client area"
    assert occluder.y == cover_client.y - title_bar, "includes the title bar above it"
    assert occluder.height > cover_client.height + title_bar - 1


def test_raising_the_business_window_removes_the_occluder(
    desktop: Desktop, locate: Locate, name: str
) -> None:
    business = _business(desktop, name)
    desktop.spawn_colour_window(
        geometry=Rect(250, 200, 300, 200), title="chat", wm_class=f"{name}cover"
    )
    match = WindowMatch(window_class=name)
    assert len(locate(match).occluders) == 1
    desktop.raise_window(business)
    assert locate(match).occluders == ()


def test_window_below_does_not_count(desktop: Desktop, locate: Locate, name: str) -> None:
    desktop.spawn_colour_window(
        geometry=Rect(150, 100, 500, 400), title="wallpaper app", wm_class=f"{name}below"
    )
    _business(desktop, name)
    assert locate(WindowMatch(window_class=name)).occluders == ()


def test_window_above_elsewhere_does_not_count(desktop: Desktop, locate: Locate, name: str) -> None:
    _business(desktop, name)
    desktop.spawn_colour_window(
        geometry=Rect(800, 500, 200, 100), title="elsewhere", wm_class=f"{name}away"
    )
    assert locate(WindowMatch(window_class=name)).occluders == ()


def test_override_redirect_window_above_is_an_occluder_but_never_the_target(
    desktop: Desktop, locate: Locate, name: str
) -> None:
    business = _business(desktop, name)
    menu_rect = Rect(300, 200, 120, 240)
    # Same WM_CLASS as the business window, as the application's own menus would have.
    desktop.spawn_colour_window(
        geometry=menu_rect, title="menu", wm_class=name, override_redirect=True
    )
    snapshot = locate(WindowMatch(window_class=name))
    assert snapshot.window_id == business.window_id
    assert snapshot.occluders == (menu_rect,)


# --- hidden, moved, gone ------------------------------------------------------------------


def test_minimised(desktop: Desktop, locate: Locate, name: str) -> None:
    business = _business(desktop, name)
    desktop.minimise(business)
    match = WindowMatch(window_class=name)
    wait_for(lambda: locate(match).visibility is Visibility.MINIMISED, what="MINIMISED visibility")
    assert locate(match).occluders == ()


def test_unmapped_is_withdrawn_not_minimised(desktop: Desktop, locate: Locate, name: str) -> None:
    business = _business(desktop, name)
    desktop.unmap(business)
    match = WindowMatch(window_class=name)
    snapshot = wait_for(
        lambda: (found := locate(match)).visibility is Visibility.UNMAPPED and found,
        what="UNMAPPED visibility",
    )
    assert snapshot.window_id == business.window_id
    assert desktop.top_level_of(business) == business.window_id, "openbox gave it back to root"


def test_window_manager_keeps_a_strip_of_a_moved_window_on_screen(
    desktop: Desktop, locate: Locate, name: str
) -> None:
    """openbox clamps moves so part of the window stays on screen: OFF_SCREEN cannot be
    produced through it (the classification itself is covered by the pure test above)."""
    business = _business(desktop, name)
    x, y = desktop.move(business, 1400, 900)
    snapshot = locate(WindowMatch(window_class=name))
    assert (x, y) != (1400, 900)
    assert snapshot.target == Rect(x, y, BUSINESS.width, BUSINESS.height)
    assert snapshot.visibility is Visibility.VISIBLE


def test_partly_off_screen_is_visible(desktop: Desktop, locate: Locate, name: str) -> None:
    business = _business(desktop, name)
    assert desktop.move(business, 1200, 700) == (1200, 700)
    snapshot = locate(WindowMatch(window_class=name))
    assert snapshot.visibility is Visibility.VISIBLE
    assert snapshot.target == Rect(1200, 700, BUSINESS.width, BUSINESS.height)


def test_closed_window_is_missing(desktop: Desktop, locate: Locate, name: str) -> None:
    business = _business(desktop, name)
    match = WindowMatch(window_class=name)
    assert locate(match).visibility is Visibility.VISIBLE
    desktop.close(business)
    wait_for(lambda: locate(match).visibility is Visibility.MISSING, what="MISSING visibility")


def test_snapshot_never_raises_while_windows_are_destroyed(
    desktop: Desktop, locate: Locate, name: str
) -> None:
    business = _business(desktop, name)
    covers = [
        desktop.spawn_colour_window(
            geometry=Rect(180 + 20 * index, 140 + 15 * index, 120, 90),
            title=f"cover {index}",
            wm_class=f"{name}cover",
        )
        for index in range(6)
    ]
    match = WindowMatch(window_class=name)
    before = locate(match)
    assert before.visibility is Visibility.VISIBLE
    assert len(before.occluders) == len(covers)

    def kill_all() -> None:
        for spawned in [*covers, business]:
            desktop.kill(spawned)

    killer = threading.Thread(target=kill_all)
    during: list[WindowSnapshot] = []
    killer.start()
    while killer.is_alive():
        during.append(locate(match))
    killer.join()
    wait_for(lambda: locate(match).visibility is Visibility.MISSING, what="MISSING at the end")
    for snapshot in during:
        if snapshot.target is not None:
            assert all(o.intersection(snapshot.target) for o in snapshot.occluders)


def test_snapshot_is_fast_with_many_windows(desktop: Desktop, name: str) -> None:
    for index in range(12):
        desktop.spawn_colour_window(
            geometry=Rect(40 * index, 30 * index, 150, 100),
            title=f"noise {index}",
            wm_class=f"{name}noise",
        )
    _business(desktop, name)
    for index in range(4):
        desktop.spawn_colour_window(
            geometry=Rect(220 + 30 * index, 160, 100, 100),
            title=f"cover {index}",
            wm_class=f"{name}cover",
        )
    locator = X11WindowLocator(WindowMatch(window_class=name, title_pattern="customer"))
    try:
        locator.snapshot()
        started = time.perf_counter()
        for _ in range(50):
            snapshot = locator.snapshot()
        per_snapshot = (time.perf_counter() - started) / 50
    finally:
        locator.close()
    assert len(snapshot.occluders) == 4
    assert per_snapshot < 0.02, f"{per_snapshot * 1000:.1f} ms per snapshot"


def test_closing_after_the_x_server_went_away_is_quiet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The display of a session that ended (logout, a virtual display stopped) has nothing
    left to close: the payment-title thread stopped with a traceback here once."""
    with running_x_server(tmp_path) as server:
        monkeypatch.setenv("DISPLAY", server.display)
        locator = create_locator(WindowMatch(window_class="anything"))
        assert locator.snapshot().visibility is Visibility.MISSING
    locator.close()  # the server is gone
    locator.close()  # and twice is harmless
