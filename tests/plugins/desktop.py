"""A real headless X11 desktop for tests (registered by tests/conftest.py).

- `x_display` (session): an `XServer` running Xvfb on a free display number with openbox
  managing it (testbed/x_display.py); `DISPLAY` points at it for the whole session.
- `desktop` (per test): a `Desktop` (tests/helpers/desktop.py) that spawns windows and drives
  them; every process it started is killed at the end of the test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from testbed.x_display import XServer, running_x_server
from tests.helpers.desktop import Desktop


@pytest.fixture(scope="session")
def x_display(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XServer]:
    """Xvfb on a free display number, managed by openbox; DISPLAY points at it meanwhile."""
    with (
        running_x_server(tmp_path_factory.mktemp("x-display")) as server,
        pytest.MonkeyPatch.context() as patch,
    ):
        patch.setenv("DISPLAY", server.display)
        yield server


@pytest.fixture
def desktop(x_display: XServer) -> Iterator[Desktop]:
    """Windows for one test; all of them are killed afterwards."""
    session = Desktop(x_display)
    try:
        yield session
    finally:
        session.cleanup()
