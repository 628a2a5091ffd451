"""The payment-title watcher on a real X server (Xvfb + openbox): it sees the title come and
go, and while nothing changes it reads no snapshot (the X server's events say so), which is
what an armed agent costs all day."""

from __future__ import annotations

import threading

from agent.capture.geometry import Rect
from agent.capture.window.base import WindowMatch
from agent.capture.window.factory import create_locator
from agent.detect.payment_title import PaymentTitleWatcher
from testbed.waiting import wait_for
from tests.helpers.counting_locator import CountingLocator
from tests.helpers.desktop import Desktop

INTERVAL_S = 0.05


def test_the_title_is_followed_and_a_still_desktop_costs_no_snapshot(desktop: Desktop) -> None:
    business = desktop.spawn_colour_window(
        geometry=Rect(200, 150, 640, 400), title="CRM - customer 5", wm_class="Watched"
    )
    counting = CountingLocator(create_locator(WindowMatch(window_class="Watched")))
    seen: list[bool] = []
    changed = threading.Event()

    def on_change(matching: bool) -> None:
        seen.append(matching)
        changed.set()

    watcher = PaymentTitleWatcher(
        "Card payment", lambda: counting, on_change, interval_s=INTERVAL_S
    )
    watcher.start()
    try:
        wait_for(lambda: counting.snapshots >= 2, timeout=10, what="the first snapshots")
        # Twenty intervals of a still desktop; the window manager may still settle once.
        before = counting.snapshots
        threading.Event().wait(20 * INTERVAL_S)
        assert counting.snapshots - before <= 2, f"{counting.snapshots - before} snapshots"

        desktop.set_title(business, "CRM - Card payment")
        assert changed.wait(5), "the payment title was not seen"
        changed.clear()
        desktop.set_title(business, "CRM - customer 5")
        assert changed.wait(5), "the payment title's end was not seen"
        assert seen == [True, False]
    finally:
        watcher.stop()
