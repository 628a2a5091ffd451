"""Private sound servers for audio tests (registered by tests/conftest.py), each a
`PulseServer` from testbed/:

- `pulse_server` (session): PulseAudio.
- `pipewire_server` (session): PipeWire with pipewire-pulse and WirePlumber, as today's Linux
  desktops run it (testbed/pipewire.py).
- `sound_server` (session, parametrised): each of the two in turn, for the tests that must
  hold on both (audio capture, call detection, doctor, a subset end to end).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from testbed.pipewire import running_pipewire_server
from testbed.pulse import PulseServer, running_pulse_server

SOUND_SERVERS = ("pulseaudio", "pipewire")


@pytest.fixture(scope="session")
def pulse_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PulseServer]:
    with running_pulse_server(tmp_path_factory.mktemp("pulse")) as server:
        yield server


@pytest.fixture(scope="session")
def pipewire_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PulseServer]:
    with running_pipewire_server(tmp_path_factory.mktemp("pipewire")) as server:
        yield server


@pytest.fixture(scope="session", params=SOUND_SERVERS)
def sound_server(request: pytest.FixtureRequest) -> PulseServer:
    name = "pulse_server" if request.param == "pulseaudio" else "pipewire_server"
    server: PulseServer = request.getfixturevalue(name)
    return server
