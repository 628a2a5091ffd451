"""Which process counts as the softphone: this user's, started from the configured file; and
which PID a sound-server client is judged by."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from agent.detect.pulse_streams import client_pid, server_pid_of
from agent.detect.trusted_process import Softphone


def test_this_process_is_the_softphone_only_if_it_runs_the_configured_file(
    tmp_path: Path,
) -> None:
    assert Softphone.from_setting(sys.executable).refusal(os.getpid()) is None
    other = tmp_path / "baresip"
    other.write_bytes(b"")
    refusal = Softphone.from_setting(str(other)).refusal(os.getpid())
    assert refusal is not None
    assert f"process {os.getpid()} runs " in refusal
    assert f"not the softphone {other}" in refusal


def test_a_process_that_cannot_be_seen_or_has_gone_is_refused() -> None:
    softphone = Softphone.from_setting(sys.executable)
    assert softphone.refusal(None) == (
        "it belongs to a process this agent cannot see, i.e. another user's"
    )
    assert softphone.refusal(2**22 + 1) == f"its process {2**22 + 1} has exited"


def test_a_replaced_program_file_is_refused_with_the_fix() -> None:
    softphone = Softphone(Path("/usr/bin/baresip"))
    problem = softphone._executable_problem(7, "/usr/bin/baresip (deleted)")
    assert problem == (
        "process 7 runs /usr/bin/baresip, which was replaced or removed since; restart the"
        " softphone"
    )


def test_a_name_is_looked_up_on_path_and_must_exist(tmp_path: Path) -> None:
    shell = shutil.which("sh")
    assert shell is not None
    assert Softphone.from_setting("sh").executable == Path(os.path.realpath(shell))
    with pytest.raises(ValueError, match="not a program on PATH; set it to the softphone's full"):
        Softphone.from_setting("no-such-softphone")
    with pytest.raises(ValueError, match="not a program on PATH"):
        Softphone.from_setting(str(tmp_path))


def test_the_servers_verified_pid_wins_over_the_clients_claim() -> None:
    assert client_pid({"pipewire.sec.pid": "42", "application.process.id": "1"}, None) == 42
    assert client_pid({"application.process.id": "1"}, None) == 1
    assert client_pid({"application.process.id": "one"}, None) is None
    assert client_pid({}, None) is None


def test_pipewire_pulses_own_pid_on_a_libpulse_client_is_no_verification() -> None:
    # pipewire-pulse (pid 30) is the PipeWire client of every libpulse client it serves.
    libpulse_client = {"pipewire.sec.pid": "30", "application.process.id": "77"}
    assert client_pid(libpulse_client, server_pid=30) == 77
    ours = {"pipewire.sec.pid": "30", "application.process.id": "5"}
    ours["application.name"] = "callreel-agent"
    assert server_pid_of({1: ours, 2: libpulse_client}, own_pid=5) == 30
    assert server_pid_of({2: libpulse_client}, own_pid=5) is None
