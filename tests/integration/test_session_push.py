"""A trainer's session reaches a waiting agent within two seconds (the session push).

Real `callreel-vault serve` processes: one on its own SQLite, and two sharing one PostgreSQL
database, where the agent waits on one process and the trainer acts through the other. The
agent side is the agent's own `DeviceClient.sessions_changed`, as its session poller calls it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from agent.vault_connection.client import DeviceClient, SessionsAnswer, enrol
from protocol.pinned_tls import client_ssl_context
from protocol.signing import DeviceKey
from tests.helpers.agent_harness import People, VaultProcess, add_people, start_session

PUSH_DEADLINE_S = 2.0
WAIT_S = 25.0


@dataclass
class Vaults:
    trainer_side: VaultProcess
    agent_side: VaultProcess
    people: People


@pytest.fixture(params=["sqlite", "postgresql-two-processes"])
def vaults(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Vaults]:
    first = VaultProcess(tmp_path / "vault")
    second = first
    if request.param != "sqlite":
        url = request.getfixturevalue("fresh_postgres_url")
        first = VaultProcess(tmp_path / "vault", db=url)
        second = VaultProcess(tmp_path / "vault", db=url)
    first.start()
    try:
        if second is not first:
            second.start()
        yield Vaults(first, second, add_people(first))
    finally:
        second.stop()
        first.stop()


@pytest.fixture
def device(vaults: Vaults) -> Iterator[DeviceClient]:
    vault = vaults.agent_side
    token = vault.admin("enroll-token", "--agent", vaults.people.agent).strip()
    key = DeviceKey.generate()
    client = httpx.Client(base_url=vault.url, verify=client_ssl_context(vault.ca), timeout=30)
    enrolled = enrol(client, token, key, "push-test")
    with DeviceClient(client, enrolled.device_id, key) as device_client:
        yield device_client


class Waiter:
    """One `sessions_changed` call in a thread, as the agent's poller makes it."""

    def __init__(self, device: DeviceClient, known: str | None) -> None:
        self.answer: SessionsAnswer | None = None
        self.returned_at = 0.0
        self._thread = threading.Thread(target=self._wait, args=(device, known), daemon=True)
        self._thread.start()

    def _wait(self, device: DeviceClient, known: str | None) -> None:
        self.answer = device.sessions_changed(known, WAIT_S)
        self.returned_at = time.monotonic()

    def result(self) -> SessionsAnswer:
        self._thread.join(WAIT_S + 15)
        assert self.answer is not None, "the waiting request failed"
        return self.answer


def _end_session(vault: VaultProcess, people: People, session_id: str) -> None:
    with vault.client(people.trainer_token) as client:
        response = client.post(f"/api/v1/sessions/{session_id}/end")
        assert response.status_code == 200, response.text


def test_a_started_and_an_ended_session_reach_a_waiting_agent_within_two_seconds(
    vaults: Vaults, device: DeviceClient
) -> None:
    first = device.sessions_changed(None, 0)
    assert first.sessions == []
    assert first.etag is not None

    waiter = Waiter(device, first.etag)
    time.sleep(1.5)  # the request is waiting at the vault now
    assert waiter.answer is None
    session_id = start_session(vaults.trainer_side, vaults.people, calls=2).split()[1]
    started_at = time.monotonic()
    started = waiter.result()
    assert started.sessions is not None, "the wait ended without the new session"
    assert [str(s.id) for s in started.sessions] == [session_id]
    assert waiter.returned_at - started_at <= PUSH_DEADLINE_S, waiter.returned_at - started_at

    waiter = Waiter(device, started.etag)
    time.sleep(1.5)
    _end_session(vaults.trainer_side, vaults.people, session_id)
    ended_at = time.monotonic()
    ended = waiter.result()
    assert ended.sessions == []
    assert waiter.returned_at - ended_at <= PUSH_DEADLINE_S, waiter.returned_at - ended_at


def test_an_unchanged_list_waits_out_the_wait_and_says_so(
    vaults: Vaults, device: DeviceClient
) -> None:
    known = device.sessions_changed(None, 0).etag
    began = time.monotonic()
    unchanged = device.sessions_changed(known, 2.0)
    assert unchanged.sessions is None
    assert unchanged.etag == known
    assert time.monotonic() - began >= 1.9
