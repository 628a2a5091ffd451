"""Fleet enrolment as IT deploys it: the agent .deb installed, one token in its policy, and OS
users on a shared and a separate machine each enrolling themselves with the installed
`callreel-agent enrol` (what `run` does at first start), run as those OS users by `runuser`,
on machines told apart by their hostnames (a UTS namespace each). The vault side alone, with
every refusal, is tests/integration/test_fleet_enrolment.py."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from agent.vault_connection.client import DeviceClient
from agent.vault_connection.enrolment import Enrolment
from protocol.pinned_tls import client_ssl_context
from protocol.signing import DeviceKey
from tests.helpers.agent_harness import People, VaultProcess, start_session, write_policy
from tests.installers.conftest import built, installed_package, system_user

INSTALLED_AGENT = Path("/usr/bin/callreel-agent")

TEAM = "floor-a"
# OS users; the vault's agent accounts have the same names (logins map to them).
ANN, BEN, CAT, DAN = (f"callreel-fleet-{name}" for name in ("ann", "ben", "cat", "dan"))


@dataclass
class Fleet:
    vault: VaultProcess
    admin: httpx.Client
    shared: Path
    """Root's, world-readable: the policy, the vault certificate and each user's agent root."""
    trainer_token: str

    def policy(self, token: str) -> Path:
        return write_policy(
            self.shared / f"policy-{token[-6:]}.toml",
            {
                "vault_url": self.vault.url,
                "vault_ca_file": str(self.shared / "vault.pem"),
                "enrolment_token": token,
            },
        )

    def enrol(self, user: str, machine: str, policy: Path) -> subprocess.CompletedProcess[str]:
        """`callreel-agent enrol` from policy, as OS user `user` on the machine `machine`."""
        root = self.root(user, machine)
        root.mkdir(exist_ok=True)
        shutil.chown(root, user, user)
        command = (
            f"hostname {machine} && exec runuser -u {user} -- {INSTALLED_AGENT} enrol"
            f" --policy-file {policy} --root {root}"
        )
        return subprocess.run(
            ["unshare", "--uts", "sh", "-c", command],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )

    def root(self, user: str, machine: str) -> Path:
        return self.shared / f"{machine}-{user}"

    def device(self, user: str, machine: str) -> DeviceClient:
        data = self.root(user, machine) / "data"
        enrolment = Enrolment.load(data / "enrolment.json")
        http = httpx.Client(
            base_url=self.vault.url, verify=client_ssl_context(self.vault.ca), timeout=60
        )
        return DeviceClient(http, enrolment.device_id, DeviceKey.load(data / "device.key"))

    def new_token(self, uses: int) -> str:
        answer = self.admin.post(
            "/api/v1/fleet-tokens", json={"team": TEAM, "uses": uses, "days": 1}
        )
        assert answer.status_code == 201, answer.text
        token: str = answer.json()["token"]
        return token


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    with installed_package(built("callreel-agent_*.deb"), "callreel-agent"):
        yield from _fleet(tmp_path)


def _fleet(tmp_path: Path) -> Iterator[Fleet]:
    for name in (ANN, BEN, CAT, DAN):
        system_user(name)
    vault = VaultProcess(tmp_path / "vault")
    vault.start()
    shared = Path(tempfile.mkdtemp(prefix="callreel-fleet-"))
    shared.chmod(0o755)
    try:
        shutil.copyfile(vault.ca, shared / "vault.pem")
        (shared / "vault.pem").chmod(0o644)
        vault.admin("user", "add", "ida", "--role", "administrator")
        vault.admin("user", "add", "tom", "--role", "trainer")
        vault.admin("user", "add", "otto", "--role", "auditor")
        for agent, team in ((ANN, TEAM), (BEN, TEAM), (CAT, "floor-b")):
            vault.admin("user", "add", agent, "--role", "agent", "--team", team)
        with vault.client(vault.admin("token", "create", "ida").strip()) as admin:
            yield Fleet(vault, admin, shared, vault.admin("token", "create", "tom").strip())
    finally:
        vault.stop()
        shutil.rmtree(shared, ignore_errors=True)


def _audit(fleet: Fleet, action: str) -> list[dict[str, object]]:
    with fleet.vault.client(fleet.vault.admin("token", "create", "otto").strip()) as auditor:
        answer = auditor.get("/api/v1/audit")
    assert answer.status_code == 200, answer.text
    return [record for record in answer.json() if record["action"] == action]


def test_one_fleet_token_enrols_each_user_on_each_machine_as_their_own_agent(
    fleet: Fleet,
) -> None:
    policy = fleet.policy(fleet.new_token(uses=3))
    for user, machine in ((ANN, "desk-1"), (BEN, "desk-1"), (ANN, "desk-2")):
        done = fleet.enrol(user, machine, policy)
        assert done.returncode == 0, done.stderr
        assert f"recording agent {user}" in done.stdout
    devices = {(user, machine): fleet.device(user, machine) for user, machine in
               ((ANN, "desk-1"), (BEN, "desk-1"), (ANN, "desk-2"))}  # fmt: skip
    assert len({device.device_id for device in devices.values()}) == 3

    # Each sees only its own agent's sessions.
    for agent in (ANN, BEN):
        start_session(fleet.vault, People(agent, fleet.trainer_token, ""))
    for (user, _machine), device in devices.items():
        with device:
            assert {session.agent for session in device.sessions()} == {user}

    enrolled = _audit(fleet, "device-enrol")
    assert sorted((r["details"]["login"], r["details"]["hostname"]) for r in enrolled) == [  # type: ignore[index]
        (ANN, "desk-1"), (ANN, "desk-2"), (BEN, "desk-1"),
    ]  # fmt: skip
    assert {r["subject"] for r in enrolled} == {str(d.device_id) for d in devices.values()}

    # The fourth enrolment is one too many.
    refused = fleet.enrol(BEN, "desk-2", policy)
    assert refused.returncode == 1
    assert "used up (3 of 3 enrolments)" in refused.stderr


def test_an_unknown_login_hears_what_to_do_from_the_installed_agent(fleet: Fleet) -> None:
    refused = fleet.enrol(DAN, "desk-3", fleet.policy(fleet.new_token(uses=5)))
    assert refused.returncode == 1
    assert f"there is no Callreel agent account '{DAN}'" in refused.stderr
    assert "your administrator must add it" in refused.stderr
    assert not (fleet.root(DAN, "desk-3") / "data" / "device.key").exists()
