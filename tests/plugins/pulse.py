"""A private PulseAudio server for audio tests (registered by tests/conftest.py): the session's
`pulse_server` fixture, a `PulseServer` from testbed/pulse.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from testbed.pulse import PulseServer, running_pulse_server


@pytest.fixture(scope="session")
def pulse_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PulseServer]:
    with running_pulse_server(tmp_path_factory.mktemp("pulse")) as server:
        yield server
