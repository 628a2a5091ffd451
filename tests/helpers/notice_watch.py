"""Watches the X display for a window with a given title, in a process of its own.

Run as `python -m tests.helpers.notice_watch TITLE`. It prints `ready` once connected, then,
when the window is first viewable, one line `seen NOT_YET_AT SEEN_AT`: wall-clock times such
that the window became viewable after NOT_YET_AT (the start of the last poll that did not
find it) and by SEEN_AT (the end of the first poll that did). A process of its own, because a
thread in the test's process waits for that process's GIL (5 ms at a time) on every X round
trip, and its lag made a correct agent look early.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from Xlib import X, Xatom
from Xlib import display as xdisplay
from Xlib import error as xerror

POLL_S = 0.002


def viewable(display: xdisplay.Display, root: Any, client_list: int, title: str) -> bool:
    listed = root.get_full_property(client_list, Xatom.WINDOW)
    for window_id in [] if listed is None else listed.value:
        window = display.create_resource_object("window", int(window_id))
        try:
            if window.get_wm_name() == title:
                return bool(window.get_attributes().map_state == X.IsViewable)
        except xerror.BadWindow:
            continue
    return False


def main(title: str) -> None:
    display = xdisplay.Display()
    root = display.screen().root
    client_list = display.intern_atom("_NET_CLIENT_LIST")
    not_yet_at = time.time()
    if viewable(display, root, client_list, title):
        print("already on screen", flush=True)
        return
    print("ready", flush=True)
    while True:
        time.sleep(POLL_S)
        poll_started = time.time()
        if viewable(display, root, client_list, title):
            print(f"seen {not_yet_at!r} {time.time()!r}", flush=True)
            return
        not_yet_at = poll_started


if __name__ == "__main__":
    main(sys.argv[1])
