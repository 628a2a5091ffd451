"""Test harnesses shared by every test module: a real X desktop and a private PulseAudio."""

pytest_plugins = ("tests.desktop", "tests.pulse", "tests.services", "tests.qt_desktop")
