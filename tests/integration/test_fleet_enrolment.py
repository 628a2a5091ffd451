"""The vault's side of fleet enrolment over its HTTPS API: one token, many machines and
logins, each its own device of the agent its login names; every refusal with its reason,
kept for administrators where it needs one, and in the access log. (The installed agent
enrolling real OS users is tests/installers/test_fleet_enrolment.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent.vault_connection.client import DeviceClient, VaultRequestError, enrol
from protocol.pinned_tls import client_ssl_context
from protocol.signing import DeviceKey
from tests.helpers.agent_harness import People, VaultProcess, start_session
from vault import fleet_enrolment
from vault.db.engine import utc_now
from vault.db.opening import open_database

TEAM = "floor-a"


@pytest.fixture
def vault(tmp_path: Path) -> Iterator[VaultProcess]:
    process = VaultProcess(tmp_path / "vault")
    process.start()
    try:
        process.admin("user", "add", "ida", "--role", "administrator")
        process.admin("user", "add", "tom", "--role", "trainer")
        process.admin("user", "add", "otto", "--role", "auditor")
        for agent, team in (("ann", TEAM), ("ben", TEAM), ("cat", "floor-b")):
            process.admin("user", "add", agent, "--role", "agent", "--team", team)
        yield process
    finally:
        process.stop()


@pytest.fixture
def admin(vault: VaultProcess) -> Iterator[httpx.Client]:
    with vault.client(vault.admin("token", "create", "ida").strip()) as client:
        yield client


def _token(admin: httpx.Client, **body: Any) -> str:
    answer = admin.post("/api/v1/fleet-tokens", json={"team": TEAM, "days": 1, **body})
    assert answer.status_code == 201, answer.text
    token: str = answer.json()["token"]
    return token


def _enrol(vault: VaultProcess, token: str, login: str, hostname: str) -> DeviceClient:
    key = DeviceKey.generate()
    http = httpx.Client(base_url=vault.url, verify=client_ssl_context(vault.ca), timeout=60)
    try:
        enrolled = enrol(http, token, key, hostname, login)
    except BaseException:
        http.close()
        raise
    return DeviceClient(http, enrolled.device_id, key)


def _refusal(vault: VaultProcess, token: str, login: str) -> VaultRequestError:
    with pytest.raises(VaultRequestError) as refused:
        _enrol(vault, token, login, "desk-9")
    return refused.value


def _audit(vault: VaultProcess, action: str) -> list[dict[str, Any]]:
    with vault.client(vault.admin("token", "create", "otto").strip()) as auditor:
        answer = auditor.get("/api/v1/audit")
    assert answer.status_code == 200, answer.text
    return [r for r in answer.json() if r["action"] == action]


def test_logins_map_to_agents_each_machine_its_own_device_seeing_its_own_sessions(
    vault: VaultProcess, admin: httpx.Client
) -> None:
    token = _token(admin, uses=3)
    logins = ((r"CORP\Ann", "desk-1"), ("ben@corp.example", "desk-1"), ("ANN", "desk-2"))
    trainer = vault.admin("token", "create", "tom").strip()
    for agent in ("ann", "ben"):
        start_session(vault, People(agent, trainer, ""))
    seen, device_ids = [], set()
    for login, hostname in logins:
        with _enrol(vault, token, login, hostname) as device:
            device_ids.add(device.device_id)
            seen.append({session.agent for session in device.sessions()})
    assert len(device_ids) == 3
    assert seen == [{"ann"}, {"ben"}, {"ann"}]

    logged = _audit(vault, "device-enrol")
    assert [(r["details"]["agent"], r["details"]["login"], r["details"]["hostname"])
            for r in logged] == [("ann", r"CORP\Ann", "desk-1"),
                                 ("ben", "ben@corp.example", "desk-1"),
                                 ("ann", "ANN", "desk-2")]  # fmt: skip
    (listed,) = admin.get("/api/v1/fleet-tokens").json()
    assert (listed["uses"], listed["max_uses"], listed["usable"]) == (3, 3, False)
    assert token not in str(admin.get("/api/v1/fleet-tokens").json())

    used_up = _refusal(vault, token, "ben")
    assert used_up.status == 403
    assert "used up (3 of 3 enrolments)" in str(used_up)


def test_unknown_and_other_team_logins_are_refused_and_unknown_ones_listed(
    vault: VaultProcess, admin: httpx.Client
) -> None:
    token = _token(admin, uses=5)
    unknown = _refusal(vault, token, r"CORP\dan")
    assert "there is no Callreel agent account 'dan'" in str(unknown)
    other_team = _refusal(vault, token, "cat")
    assert "not in team 'floor-a'" in str(other_team)
    _refusal(vault, token, r"CORP\dan")  # a second try is one request, tried twice
    (pending,) = admin.get("/api/v1/enrolment-requests").json()
    assert (pending["account"], pending["login"], pending["attempts"]) == ("dan", r"CORP\dan", 2)
    refusals = _audit(vault, "device-enrol-refused")
    assert [r["subject"] for r in refusals] == ["dan", "cat", "dan"]
    assert all(r["details"]["reason"] for r in refusals)

    vault.admin("user", "add", "dan", "--role", "agent", "--team", TEAM)
    _enrol(vault, token, r"CORP\dan", "desk-9").close()
    assert admin.get("/api/v1/enrolment-requests").json() == []


def test_a_token_that_creates_agents_makes_the_account_in_its_team(
    vault: VaultProcess, admin: httpx.Client
) -> None:
    device = _enrol(vault, _token(admin, uses=2, creates_agents=True), "eve@corp.example", "d-1")
    device.close()
    added = _audit(vault, "user-add")[-1]
    assert (added["subject"], added["details"]["team"]) == ("eve", TEAM)
    assert added["actor"].startswith("fleet-token:")


def test_revoked_expired_and_unknown_tokens_are_refused_with_the_reason(
    vault: VaultProcess, admin: httpx.Client
) -> None:
    revoked = _token(admin, uses=5)
    (listed,) = admin.get("/api/v1/fleet-tokens").json()
    assert admin.post(f"/api/v1/fleet-tokens/{listed['id']}/revoke").status_code == 200
    assert "this fleet enrolment token was revoked on" in str(_refusal(vault, revoked, "ann"))

    engine = open_database(f"sqlite:///{vault.data / 'vault.db'}")
    try:
        expired, _ = fleet_enrolment.create_fleet_token(
            engine, team=TEAM, max_uses=5, valid_for=timedelta(hours=1), creates_agents=False,
            label="", by="ida", now=utc_now() - timedelta(days=2),
        )  # fmt: skip
    finally:
        engine.dispose()
    assert "this fleet enrolment token expired on" in str(_refusal(vault, expired, "ann"))

    unknown = _refusal(vault, "crf_" + "A" * 32, "ann")
    assert unknown.status == 401
    assert "unknown fleet enrolment token" in str(unknown)
    assert _audit(vault, "device-enrol") == []
    assert len(_audit(vault, "fleet-token-revoke")) == 1


def test_only_administrators_manage_fleet_tokens(vault: VaultProcess) -> None:
    with vault.client(vault.admin("token", "create", "tom").strip()) as trainer:
        answer = trainer.post("/api/v1/fleet-tokens", json={"team": TEAM, "uses": 1, "days": 1})
        assert answer.status_code == 403
        assert trainer.get("/api/v1/enrolment-requests").status_code == 403
