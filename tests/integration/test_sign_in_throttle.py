"""Failed sign-ins against real `callreel-vault serve` processes over HTTPS: growing delays per
account and per address with 429 and Retry-After, shared by two processes on one PostgreSQL,
and a flood from many addresses that queues instead of exhausting the vault's memory.

Clients bind their own loopback address (127.0.1.N), which Linux routes like 127.0.0.1, so
the vault sees distinct sources.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from protocol.pinned_tls import client_ssl_context
from testbed.process_memory import peak_rss_mb
from tests.helpers.agent_harness import VaultProcess
from vault.sign_in_throttle import ACCOUNT_RULE, SOURCE_RULE

PASSWORD = "tina's long password"  # noqa: S105  (a throwaway vault's test user)
WRONG = "not the password at all"


@pytest.fixture
def vault(tmp_path: Path) -> Iterator[VaultProcess]:
    process = VaultProcess(tmp_path / "vault")
    process.start()
    try:
        process.admin("user", "add", "tina", "--role", "trainer", "--password-stdin",
                      stdin=PASSWORD)  # fmt: skip
        yield process
    finally:
        process.stop()


def _client(vault: VaultProcess, source: str = "127.0.0.1") -> httpx.Client:
    transport = httpx.HTTPTransport(verify=client_ssl_context(vault.ca), local_address=source)
    return httpx.Client(base_url=vault.url, transport=transport, timeout=60)


def _login(client: httpx.Client, username: str, password: str) -> httpx.Response:
    return client.post("/api/v1/login", json={"username": username, "password": password})


def test_an_account_is_throttled_with_growing_waits_then_signs_in(vault: VaultProcess) -> None:
    with _client(vault) as client:
        for _ in range(ACCOUNT_RULE.free_failures + 1):
            assert _login(client, "tina", WRONG).status_code == 401
        refused = _login(client, "tina", PASSWORD)
        assert refused.status_code == 429, "the right password is refused while blocked"
        wait = int(refused.headers["Retry-After"])
        assert 1 <= wait <= ACCOUNT_RULE.first_delay.total_seconds()
        assert refused.json()["error"] == "sign-in-throttled"
        assert "this account" in refused.json()["message"]

        time.sleep(wait)
        assert _login(client, "tina", WRONG).status_code == 401  # the 7th failure in a row
        longer = int(_login(client, "tina", PASSWORD).headers["Retry-After"])
        assert longer > wait, "each further failure doubles the wait"

        time.sleep(longer)
        assert _login(client, "tina", PASSWORD).status_code == 200
        assert _login(client, "tina", WRONG).status_code == 401, "success starts the count again"


def test_another_address_is_not_held_up_by_an_account_guessing_from_one(
    vault: VaultProcess,
) -> None:
    with _client(vault, "127.0.1.1") as guesser:
        for n in range(SOURCE_RULE.free_failures + 1):
            assert _login(guesser, f"nobody{n}", WRONG).status_code == 401
        refused = _login(guesser, "someone-new", WRONG)
        assert refused.status_code == 429
        assert "this address" in refused.json()["message"]
    with _client(vault, "127.0.1.2") as colleague:
        assert _login(colleague, "tina", PASSWORD).status_code == 200


def test_throttling_holds_across_two_vault_processes_on_one_database(
    tmp_path: Path, fresh_postgres_url: str
) -> None:
    first = VaultProcess(tmp_path / "vault", db=fresh_postgres_url)
    second = VaultProcess(tmp_path / "vault", db=fresh_postgres_url)
    first.start()
    second.start()
    try:
        first.admin("user", "add", "tina", "--role", "trainer", "--password-stdin",
                    stdin=PASSWORD)  # fmt: skip
        with _client(first) as through_first, _client(second) as through_second:
            for _ in range(ACCOUNT_RULE.free_failures + 1):
                assert _login(through_first, "tina", WRONG).status_code == 401
            assert _login(through_second, "tina", PASSWORD).status_code == 429
    finally:
        second.stop()
        first.stop()


def _flood(vault: VaultProcess, source: str, until: float, answers: list[int]) -> None:
    with _client(vault, source) as client:
        n = 0
        while time.monotonic() < until:
            # A new name each time: only the address throttle and the queue stand in the way.
            answers.append(_login(client, f"guess-{source}-{n}", WRONG).status_code)
            n += 1


def test_a_login_flood_queues_instead_of_exhausting_memory(vault: VaultProcess) -> None:
    """24 addresses guessing as fast as they are answered for 20 s; the vault's peak memory
    stays within a few concurrent hashes of where it was, and a real sign-in gets through
    (retrying, as the console does, when told the vault is busy)."""
    assert vault.process is not None
    before = peak_rss_mb(vault.process.pid)
    until = time.monotonic() + 20
    answers: list[int] = []
    flood = [
        threading.Thread(target=_flood, args=(vault, f"127.0.2.{n}", until, answers))
        for n in range(1, 25)
    ]
    for client in flood:
        client.start()
    time.sleep(5)
    with _client(vault, "127.0.3.1") as person:
        while (signed_in := _login(person, "tina", PASSWORD)).status_code == 429:
            time.sleep(float(signed_in.headers["Retry-After"]))
    for client in flood:
        client.join(120)
    assert signed_in.status_code == 200
    assert answers, "the flood got no answers"
    assert set(answers) <= {401, 429}
    growth = peak_rss_mb(vault.process.pid) - before
    assert growth < 250, f"a login flood grew the vault by {growth:.0f} MiB"
