"""The test suite's plugins (pytest registers plugins only from the top-level conftest): a real
X desktop, a private PulseAudio, PostgreSQL and Ceph, and Qt on that desktop (tests/plugins/)."""

pytest_plugins = (
    "tests.plugins.desktop",
    "tests.plugins.pulse",
    "tests.plugins.services",
    "tests.plugins.qt_desktop",
)
