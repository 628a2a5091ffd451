"""Automatic pause while the business window's title matches the payment pattern (R6).

The pipeline already blacks out every frame whose window title matches, from the first such
frame; this watcher tells the state machine too, so the pause is recorded with the recording,
shown in the tray, and covers the audio (card numbers are read out loud).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable

from agent.capture.window.base import WindowLocator

log = logging.getLogger(__name__)

POLL_INTERVAL_S = 0.25


class PaymentTitleWatcher:
    def __init__(
        self,
        pattern: str,
        make_locator: Callable[[], WindowLocator],
        on_change: Callable[[bool], None],
        *,
        interval_s: float = POLL_INTERVAL_S,
    ) -> None:
        self._pattern = re.compile(pattern)
        self._make_locator = make_locator
        self._on_change = on_change
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="callreel-payment", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2.0)

    def _run(self) -> None:
        locator = self._make_locator()  # its display connection belongs to this thread
        matching = False
        read = False
        try:
            while not self._stop.wait(self._interval_s):
                # An armed agent waits here all day: where the window system can tell that
                # nothing changed since the title was read (on X11, its events), that answer
                # stands for a snapshot.
                if read and not locator.changed_since_snapshot():
                    continue
                try:
                    title = locator.snapshot().title
                    read = True
                except Exception:
                    log.exception("could not read the business window's title")
                    read = False
                    continue
                now_matching = bool(self._pattern.search(title))
                if now_matching != matching:
                    matching = now_matching
                    self._on_change(matching)
        finally:
            locator.close()
