"""The real window locator, counting the snapshots it is asked for."""

from __future__ import annotations

from agent.capture.window.base import WindowLocator, WindowSnapshot


class CountingLocator(WindowLocator):
    def __init__(self, inner: WindowLocator) -> None:
        super().__init__(inner.match)
        self.inner = inner
        self.snapshots = 0

    def snapshot(self) -> WindowSnapshot:
        self.snapshots += 1
        return self.inner.snapshot()

    def changed_since_snapshot(self) -> bool:
        return self.inner.changed_since_snapshot()

    def unchanged_since_last_check(self) -> bool:
        return self.inner.unchanged_since_last_check()

    def close(self) -> None:
        self.inner.close()
