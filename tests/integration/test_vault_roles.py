"""Every cell of the role table (vault.roles.ROLE_TABLE) through the real API: each role is
allowed exactly the permissions the table gives it and refused the rest with 403. The table
in docs/roles.md must be the one in the code."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta

import httpx
import pytest

from tests.helpers.vault_harness import VaultUnderTest, running_vault, upload_recording
from vault.roles import ROLE_TABLE, Permission, Role

USER_OF_ROLE = {role: f"only-{role.value}" for role in Role}
TRAINING = {"purpose": "training"}
Attempt = Callable[[VaultUnderTest, dict[str, str]], httpx.Response]


@pytest.fixture(scope="module")
def vault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VaultUnderTest]:
    with running_vault(tmp_path_factory.mktemp("vault")) as vault:
        for role, username in USER_OF_ROLE.items():
            vault.add_person(username, role)
        yield vault


def _recording(vault: VaultUnderTest) -> uuid.UUID:
    device = vault.enrol_device(USER_OF_ROLE[Role.AGENT])
    session = vault.start_session(USER_OF_ROLE[Role.TRAINER], USER_OF_ROLE[Role.AGENT])
    return upload_recording(vault, device, session).recording_id


def _session(vault: VaultUnderTest) -> uuid.UUID:
    return vault.start_session(USER_OF_ROLE[Role.TRAINER], USER_OF_ROLE[Role.AGENT])


def _release(vault: VaultUnderTest) -> str:
    response = vault.client.post(
        f"/api/v1/recordings/{_recording(vault)}/releases",
        headers=vault.as_user(USER_OF_ROLE[Role.REVIEWER]),
        json={**TRAINING, "recipient": "training team", "reason": "course"},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["release_id"])


ATTEMPTS: dict[Permission, Attempt] = {
    Permission.SESSION_START: lambda v, h: v.client.post(
        "/api/v1/sessions",
        headers=h,
        json={
            **TRAINING,
            "agent": USER_OF_ROLE[Role.AGENT],
            "calls": 1,
            "expires_at": (v.ctx.clock() + timedelta(days=1)).isoformat(),
            "notice_text": "recorded for training",
        },
    ),
    Permission.SESSION_LIST: lambda v, h: v.client.get("/api/v1/sessions", headers=h),
    Permission.SESSION_END: lambda v, h: v.client.post(
        f"/api/v1/sessions/{_session(v)}/end", headers=h
    ),
    Permission.RECORDING_LIST: lambda v, h: v.client.get("/api/v1/recordings", headers=h),
    Permission.RECORDING_PLAY: lambda v, h: v.client.post(
        f"/api/v1/recordings/{_recording(v)}/playback", headers=h, json=TRAINING
    ),
    Permission.RECORDING_DOWNLOAD: lambda v, h: v.client.get(
        f"/api/v1/recordings/{_recording(v)}/download", headers=h, params=TRAINING
    ),
    Permission.RECORDING_DELETE: lambda v, h: v.client.post(
        f"/api/v1/recordings/{_recording(v)}/delete", headers=h, json={"reason": "objection"}
    ),
    Permission.LEGAL_HOLD: lambda v, h: v.client.put(
        f"/api/v1/recordings/{_recording(v)}/hold", headers=h, json={"reason": "claim 7"}
    ),
    Permission.RELEASE_REQUEST: lambda v, h: v.client.post(
        f"/api/v1/recordings/{_recording(v)}/releases",
        headers=h,
        json={**TRAINING, "recipient": "training team", "reason": "course"},
    ),
    Permission.RELEASE_AUTHORISE: lambda v, h: v.client.post(
        f"/api/v1/releases/{_release(v)}/authorise", headers=h
    ),
    Permission.RELEASE_LIST: lambda v, h: v.client.get("/api/v1/releases", headers=h),
    Permission.RETENTION_RUN: lambda v, h: v.client.post("/api/v1/retention/run", headers=h),
    Permission.SUBJECT_ACCESS_EXPORT: lambda v, h: v.client.get(
        f"/api/v1/agents/{USER_OF_ROLE[Role.AGENT]}/subject-access", headers=h
    ),
    Permission.USER_MANAGE: lambda v, h: v.client.post(
        "/api/v1/users",
        headers=h,
        json={"username": f"u{uuid.uuid4().hex[:12]}", "roles": ["agent"]},
    ),
    Permission.DEVICE_MANAGE: lambda v, h: v.client.post(
        "/api/v1/enrol-tokens", headers=h, json={"agent": USER_OF_ROLE[Role.AGENT]}
    ),
    Permission.HEALTH_VIEW: lambda v, h: v.client.get("/api/v1/devices", headers=h),
    Permission.AUDIT_READ: lambda v, h: v.client.get("/api/v1/audit/verify", headers=h),
    Permission.OWN_ACCESS_VIEW: lambda v, h: v.client.get("/api/v1/me/access-history", headers=h),
}


@pytest.mark.parametrize("role", list(Role), ids=str)
@pytest.mark.parametrize("permission", list(Permission), ids=str)
def test_the_api_enforces_the_role_table(
    vault: VaultUnderTest, permission: Permission, role: Role
) -> None:
    response = ATTEMPTS[permission](vault, vault.as_user(USER_OF_ROLE[role]))
    if role in ROLE_TABLE[permission]:
        assert 200 <= response.status_code < 300, response.text
    else:
        assert response.status_code == 403, response.text
        assert f"may not {permission.value}" in response.json()["message"]


def test_a_person_without_a_token_is_refused(vault: VaultUnderTest) -> None:
    for permission, attempt in ATTEMPTS.items():
        if permission in (Permission.RELEASE_AUTHORISE, Permission.SESSION_END):
            continue  # their set-up already signs in
        assert attempt(vault, {}).status_code == 401, permission
    assert attempt(vault, {"Authorization": "Bearer crt_not-issued"}).status_code == 401


def test_every_permission_has_an_attempt() -> None:
    assert set(ATTEMPTS) == set(Permission)
