"""The test suite's plugins (pytest registers plugins only from the top-level conftest): a real
X desktop, a private PulseAudio, PostgreSQL and Ceph, and Qt on that desktop (tests/plugins/)."""

import pytest

pytest_plugins = (
    "tests.plugins.desktop",
    "tests.plugins.pulse",
    "tests.plugins.services",
    "tests.plugins.qt_desktop",
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--installers",
        action="store_true",
        help="also run tests/installers: install the built packages into this machine's"
        " system (as root; installers/check runs them)",
    )
