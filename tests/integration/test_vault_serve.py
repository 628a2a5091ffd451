"""The embedded vault as an operator runs it: `callreel-vault serve` on a fresh data
directory (identity, self-signed certificate, SQLite, disk), the local admin commands, and
the trainer's `session` commands over HTTPS with the pinned certificate."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from agent.vault_connection.client import DeviceClient, enrol
from protocol.pinned_tls import client_ssl_context
from protocol.signing import DeviceKey
from testbed.ports import free_port
from testbed.programs import stop_processes

CLI = [sys.executable, "-m", "vault.cli"]
PASSWORD = "trainer password 1"  # noqa: S105  (a throwaway vault's test user)


def _cli(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [*CLI, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    data = tmp_path / "vault"
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(
        [*CLI, "serve", "--data", str(data), "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"https://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            cert = data / "tls" / "vault-tls.crt"
            if cert.exists():
                try:
                    with httpx.Client(verify=client_ssl_context(cert)) as client:
                        if client.get(f"{url}/api/v1/health").status_code == 200:
                            break
                except httpx.TransportError:
                    pass
            assert time.monotonic() < deadline, "the vault did not start"
            time.sleep(0.1)
        yield data, url
    finally:
        stop_processes([server], timeout=10)
        log.close()


def test_an_operator_sets_up_the_embedded_vault_and_a_trainer_starts_a_session(
    served: tuple[Path, str],
) -> None:
    data, url = served
    assert (data / "vault-identity.key").stat().st_mode & 0o077 == 0
    assert (data / "tls" / "vault-tls.key").stat().st_mode & 0o077 == 0
    _cli(
        "user",
        "add",
        "tina",
        "--data",
        str(data),
        "--role",
        "trainer",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    _cli("user", "add", "alice", "--data", str(data), "--role", "agent")
    token = _cli("token", "create", "tina", "--data", str(data)).strip()
    enrolment = _cli("enroll-token", "--data", str(data), "--agent", "alice").strip()

    ca = str(data / "tls" / "vault-tls.crt")
    env = {"CALLREEL_TOKEN": token, "CALLREEL_VAULT_URL": url, "CALLREEL_VAULT_CA": ca}
    started = _cli(
        "session",
        "start",
        "--agent",
        "alice",
        "--calls",
        "2",
        "--notice",
        "Recorded for training",
        env=env,
    )
    session_id = started.split()[1]

    with httpx.Client(base_url=url, verify=client_ssl_context(Path(ca))) as client:
        signed_in = client.post("/api/v1/login", json={"username": "tina", "password": PASSWORD})
        assert signed_in.status_code == 200
        assert "secure" in signed_in.headers["set-cookie"].lower()
        refused = client.post("/api/v1/login", json={"username": "tina", "password": "wrong!"})
        assert refused.status_code == 401
        key = DeviceKey.generate()
        device = enrol(client, enrolment, key, "pc-1")
        sessions = DeviceClient(client, device.device_id, key).sessions()
    assert [(str(s.id), s.calls_left) for s in sessions] == [(session_id, 2)]

    _cli("session", "end", session_id, env=env)
    assert '"ended_at": null' not in _cli("session", "list", env=env)
    assert "intact: " in _cli("audit", "verify", "--data", str(data))
    assert "0 recordings crypto-shredded" in _cli("retention", "run", "--data", str(data))


def test_the_cli_names_what_is_wrong(served: tuple[Path, str], tmp_path: Path) -> None:
    data, url = served
    result = subprocess.run(
        [*CLI, "session", "list", "--url", url, "--ca", str(data / "tls" / "vault-tls.crt")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "CALLREEL_TOKEN": "crt_wrong"},
    )
    assert result.returncode == 1
    assert "the vault refused (401): unknown token" in result.stderr
    unpinned = subprocess.run(
        [*CLI, "session", "list", "--url", url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "CALLREEL_TOKEN": "crt_wrong"},
    )
    assert unpinned.returncode == 1
    assert "CERTIFICATE_VERIFY_FAILED" in unpinned.stderr
    bad_role = subprocess.run(
        [*CLI, "user", "add", "bob", "--data", str(data), "--role", "boss"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad_role.returncode == 1
    assert "unknown role 'boss'" in bad_role.stderr
