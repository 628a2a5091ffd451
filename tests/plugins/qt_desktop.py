"""Qt on the real test desktop (registered by tests/conftest.py): a QApplication made after
DISPLAY, a system tray host, and the UI's fake controls.

It replaces pytest-qt's `qapp` fixture so the QApplication is created only once `x_display`
has set DISPLAY; Qt runs on the xcb platform against Xvfb + openbox, never offscreen.
`tray_host` runs `trayer` (without a tray host `QSystemTrayIcon.isSystemTrayAvailable()` is
False) for the modules that need a tray.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator

import pytest
from PySide6.QtWidgets import QApplication, QSystemTrayIcon

from testbed.programs import require_program, stop_process_group
from testbed.waiting import wait_for
from testbed.x_display import XServer
from tests.helpers.qt import _TRAY_SELECTION, FakeControls, tray_owner


@pytest.fixture(scope="session")
def qapp(x_display: XServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[QApplication]:
    """The one QApplication of the test session, on the xcb platform of the test display."""
    if QApplication.instance() is not None:
        pytest.fail(
            "a QApplication was created before the test desktop was up; it may be on the "
            "wrong display"
        )
    runtime = tmp_path_factory.mktemp("xdg-runtime")
    runtime.chmod(0o700)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DISPLAY", x_display.display)
        patch.setenv("QT_QPA_PLATFORM", "xcb")
        # Qt warns (and the tests fail on Qt warnings) when this is missing.
        patch.setenv("XDG_RUNTIME_DIR", str(runtime))
        # No session bus here: the tray must use XEmbed with trayer, not StatusNotifierItem.
        patch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
        app = QApplication(["callreel-tests"])
        app.setQuitOnLastWindowClosed(False)
        try:
            yield app
        finally:
            for widget in QApplication.topLevelWidgets():
                widget.close()
            app.processEvents()
            # Gone before Xvfb is: Qt exits the process when its X connection breaks.
            with contextlib.suppress(RuntimeError):
                app.shutdown()


@pytest.fixture(scope="module")
def tray_host(
    x_display: XServer, qapp: QApplication, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[int]:
    """`trayer` docked on the test display while one test module runs; yields the X window
    that owns the tray selection once Qt sees the tray.

    Per module, not per session: trayer is a dock that openbox keeps above every window, so
    it would break other modules' stacking checks (Desktop.raise_window) if left running.
    """
    log = tmp_path_factory.mktemp("trayer") / "trayer.log"
    with log.open("wb") as log_file:
        trayer = subprocess.Popen(
            [require_program("trayer"), "--SetDockType", "true"],
            env={**os.environ, "DISPLAY": x_display.display},
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=log_file,
            start_new_session=True,
        )
    try:

        def owned() -> int:
            if trayer.poll() is not None:
                pytest.fail(f"trayer exited: {log.read_text(errors='replace')[-2000:]}")
            return tray_owner(x_display.display)

        owner = wait_for(owned, what=f"trayer to own {_TRAY_SELECTION}", timeout=10.0)

        def qt_sees_tray() -> bool:
            qapp.processEvents()
            return QSystemTrayIcon.isSystemTrayAvailable()

        wait_for(qt_sees_tray, what="Qt to see the system tray", timeout=10.0)
        yield owner
    finally:
        qapp.processEvents()
        stop_process_group(trayer)


@pytest.fixture
def controls() -> FakeControls:
    return FakeControls()
