"""Ending access, and its trace, on a real `callreel-vault serve` over HTTPS: signing out,
listing and revoking one's tokens, an administrator revoking anyone's, disabling a user (every
token and device stops at once), from the API and the command line; and every change to
people, roles, tokens and devices in the hash-chained access log, whichever way it was made.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from agent.vault_connection.client import DeviceClient, VaultRequestError, enrol
from protocol.pinned_tls import client_ssl_context
from protocol.signing import DeviceKey
from tests.helpers.agent_harness import VaultProcess

PASSWORD = "tina's long password"  # noqa: S105  (a throwaway vault's test user)
OPERATOR = f"operator:{getpass.getuser()}"


@pytest.fixture
def vault(tmp_path: Path) -> Iterator[VaultProcess]:
    process = VaultProcess(tmp_path / "vault")
    process.start()
    try:
        process.admin("user", "add", "tina", "--role", "trainer", "--password-stdin",
                      stdin=PASSWORD)  # fmt: skip
        process.admin("user", "add", "root", "--role", "administrator", "--role", "reviewer",
                      "--role", "authoriser")  # fmt: skip
        process.admin("user", "add", "audrey", "--role", "auditor")
        process.admin("user", "add", "alice", "--role", "agent")
        yield process
    finally:
        process.stop()


def _anonymous(vault: VaultProcess) -> httpx.Client:
    return httpx.Client(base_url=vault.url, verify=client_ssl_context(vault.ca), timeout=30)


def _sign_in(vault: VaultProcess) -> str:
    with _anonymous(vault) as client:
        answer = client.post("/api/v1/login", json={"username": "tina", "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["token"]
    return token


def _status_with(vault: VaultProcess, token: str) -> int:
    with vault.client(token) as client:
        return client.get("/api/v1/me").status_code


def test_signing_out_ends_the_console_session_at_once(vault: VaultProcess) -> None:
    token = _sign_in(vault)
    with _anonymous(vault) as browser:
        browser.cookies.set("callreel_session", token, domain="127.0.0.1")
        assert browser.get("/api/v1/me").status_code == 200
        signed_out = browser.post("/api/v1/logout", headers={"Origin": vault.url})
        assert signed_out.status_code == 200, signed_out.text
        assert "callreel_session=" in signed_out.headers["set-cookie"]
        assert "Max-Age=0" in signed_out.headers["set-cookie"]
    assert _status_with(vault, token) == 401


def test_a_user_lists_and_revokes_their_own_tokens(vault: VaultProcess) -> None:
    script_token = vault.admin("token", "create", "tina", "--label", "nightly").strip()
    console_token = _sign_in(vault)
    with vault.client(console_token) as client:
        listed = client.get("/api/v1/me/tokens").json()
        assert {(t["label"], t["current"]) for t in listed} == {
            ("nightly", False),
            ("console", True),
        }
        assert all(t["id"] not in (script_token, console_token) for t in listed)
        nightly = next(t["id"] for t in listed if t["label"] == "nightly")
        assert client.delete(f"/api/v1/me/tokens/{nightly}").status_code == 200
        assert client.delete(f"/api/v1/me/tokens/{nightly}").status_code == 404
    assert _status_with(vault, script_token) == 401
    assert _status_with(vault, console_token) == 200


def test_an_administrator_revokes_anyones_token_and_others_cannot(vault: VaultProcess) -> None:
    stolen = _sign_in(vault)
    admin = vault.admin("token", "create", "root").strip()
    with vault.client(stolen) as thief:
        assert thief.get("/api/v1/users/root/tokens").status_code == 403
    with vault.client(admin) as client:
        listed = client.get("/api/v1/users/tina/tokens").json()
        assert [t["label"] for t in listed] == ["console"]
        revoked = client.delete(f"/api/v1/users/tina/tokens/{listed[0]['id']}")
        assert revoked.status_code == 200, revoked.text
    assert _status_with(vault, stolen) == 401


def test_the_command_line_lists_and_revokes_tokens(vault: VaultProcess) -> None:
    token = vault.admin("token", "create", "tina", "--label", "laptop").strip()
    listing = vault.admin("token", "list", "tina")
    assert "laptop" in listing
    assert token not in listing
    token_id = listing.split()[0]
    assert "revoked" in vault.admin("token", "revoke", "tina", token_id)
    assert _status_with(vault, token) == 401


def _enrolled_device(vault: VaultProcess) -> DeviceClient:
    enrolment = vault.admin("enroll-token", "--agent", "alice").strip()
    key = DeviceKey.generate()
    client = _anonymous(vault)
    enrolled = enrol(client, enrolment, key, "desk-17")
    return DeviceClient(client, enrolled.device_id, key)


def test_disabling_a_user_stops_every_token_and_device_at_once(vault: VaultProcess) -> None:
    tokens = [_sign_in(vault), vault.admin("token", "create", "tina").strip()]
    admin = vault.admin("token", "create", "root").strip()
    agent_token = vault.admin("token", "create", "alice").strip()
    with _enrolled_device(vault) as device:
        device.heartbeat(agent_version="test", backlog_segments=0, backlog_bytes=0)
        with vault.client(admin) as client:
            answer = client.post("/api/v1/users/tina/disable")
            assert answer.status_code == 200, answer.text
            assert answer.json()["tokens_ended"] == 2
            assert client.post("/api/v1/users/alice/disable").status_code == 200
            assert client.post("/api/v1/users/root/disable").status_code == 400  # oneself
        assert [_status_with(vault, token) for token in tokens] == [401, 401]
        assert _status_with(vault, agent_token) == 401
        with pytest.raises(VaultRequestError, match="disabled"):
            device.heartbeat(agent_version="test", backlog_segments=0, backlog_bytes=0)
        with _anonymous(vault) as anonymous:
            signing_in = anonymous.post(
                "/api/v1/login", json={"username": "tina", "password": PASSWORD}
            )
            assert signing_in.status_code == 401

        assert "enabled" in vault.admin("user", "enable", "tina")
        assert [_status_with(vault, token) for token in tokens] == [401, 401], "ended for good"
        assert _status_with(vault, _sign_in(vault)) == 200
        assert "disabled" in vault.admin("user", "disable", "tina")


def _log(vault: VaultProcess) -> dict[tuple[str, str], tuple[str, dict[str, str]]]:
    """(action, subject) -> (actor, details), and the chain checked intact."""
    auditor = vault.admin("token", "create", "audrey").strip()
    with vault.client(auditor) as client:
        records = client.get("/api/v1/audit").json()
        assert client.get("/api/v1/audit/verify").json()["intact"] is True
    return {
        (r["action"], r["subject"]): (
            r["actor"],
            {name: value for name, value in r["details"].items() if value is not None},
        )
        for r in records
    }


def test_every_change_to_people_tokens_and_devices_is_in_the_access_log(
    vault: VaultProcess,
) -> None:
    token = vault.admin("token", "create", "tina", "--label", "laptop").strip()
    with _enrolled_device(vault):
        pass
    logged = _log(vault)
    actor, details = logged["user-add", "root"]
    assert actor == OPERATOR
    assert details["roles"] == "administrator,authoriser,reviewer"
    assert logged["user-add", "alice"][0] == OPERATOR
    actor, details = logged["token-create", "tina"]
    assert (actor, details["label"]) == (OPERATOR, "laptop")
    assert token not in str(logged), "the log names a token by its id, never the token"
    assert logged["enrol-token-create", "alice"][0] == OPERATOR
    enrolled = [subject for action, subject in logged if action == "device-enrol"]
    assert len(enrolled) == 1
    assert logged["device-enrol", enrolled[0]][1] == {"agent": "alice", "hostname": "desk-17"}

    token_id = vault.admin("token", "list", "tina").split()[0]
    vault.admin("token", "revoke", "tina", token_id)
    vault.admin("user", "disable", "tina")
    logged = _log(vault)
    assert logged["token-revoke", "tina"] == (OPERATOR, {"token": token_id})
    assert logged["user-disable", "tina"][0] == OPERATOR
