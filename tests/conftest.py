"""What every test gets: a marker for its kind, from its folder, and a check that its code
logged no ERROR it did not expect.

Kinds (tests/README.md): `unit` (pure: no display, sound server, database server, browser,
network or child process; tests/unit/conftest.py enforces it), `integration` (real
components, one area at a time), `end_to_end` (the whole agent with a softphone and a
vault) and `installers` (the built packages installed into this machine's system, only with
`--installers`, which installers/check gives). `pytest tests/unit` runs the pure tests alone
in seconds; `-m "not end_to_end"` leaves the slowest out.

A test that makes its code log an ERROR on purpose says so with
`@pytest.mark.logs_errors("regular expression", ...)`; any other ERROR record (from any thread,
during the test) fails it, so a failure that is only logged cannot hide behind a passing test.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
KINDS = ("unit", "integration", "end_to_end", "installers")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    chosen: list[pytest.Item] = []
    installer_tests: list[pytest.Item] = []
    for item in items:
        kind = Path(item.path).relative_to(TESTS).parts[0]
        if kind not in KINDS:
            raise pytest.UsageError(
                f"{item.nodeid}: tests live in tests/unit, tests/integration,"
                " tests/end_to_end or tests/installers (tests/README.md says which)"
            )
        item.add_marker(getattr(pytest.mark, kind))
        (installer_tests if kind == "installers" else chosen).append(item)
    # They install packages into this machine's system: only when asked (installers/check).
    if installer_tests and not config.getoption("installers"):
        config.hook.pytest_deselected(items=installer_tests)
        items[:] = chosen


class _ErrorRecords(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(autouse=True)
def _no_unexpected_error_logged(request: pytest.FixtureRequest) -> Iterator[None]:
    handler = _ErrorRecords()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
    expected = [
        re.compile(pattern)
        for marker in request.node.iter_markers("logs_errors")
        for pattern in marker.args
    ]
    unexpected = [
        record
        for record in handler.records
        if not any(pattern.search(record.getMessage()) for pattern in expected)
    ]
    if unexpected:
        lines = "\n".join(
            f"  {record.levelname} {record.name}: {record.getMessage()}" for record in unexpected
        )
        pytest.fail(
            f"the code under test logged ERROR records the test did not expect:\n{lines}\n"
            "(a test that causes them on purpose marks itself"
            " @pytest.mark.logs_errors(pattern))",
            pytrace=False,
        )
