"""Cross-site requests against a real `callreel-vault serve` over HTTPS: a change made with
the console's cookie must state the vault's own origin; bearer-token scripts are unaffected.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from protocol.pinned_tls import client_ssl_context
from tests.helpers.agent_harness import VaultProcess

PASSWORD = "tina's long password"  # noqa: S105  (a throwaway vault's test user)
SIBLING = "https://intranet.example.com"
SESSION = {"agent": "alice", "calls": 1, "purpose": "training", "notice_text": "Coaching."}


@pytest.fixture
def vault(tmp_path: Path) -> Iterator[VaultProcess]:
    process = VaultProcess(tmp_path / "vault")
    process.start()
    try:
        process.admin("user", "add", "tina", "--role", "trainer", "--password-stdin",
                      stdin=PASSWORD)  # fmt: skip
        process.admin("user", "add", "alice", "--role", "agent")
        yield process
    finally:
        process.stop()


@contextlib.contextmanager
def _browser(vault: VaultProcess) -> Iterator[httpx.Client]:
    """A client holding the console's cookie, as a signed-in browser does."""
    with httpx.Client(base_url=vault.url, verify=client_ssl_context(vault.ca)) as client:
        signed_in = client.post(
            "/api/v1/login",
            json={"username": "tina", "password": PASSWORD},
            headers={"Origin": vault.url},
        )
        assert signed_in.status_code == 200, signed_in.text
        assert client.cookies.get("callreel_session")
        yield client


def _start_session(client: httpx.Client, origin: str | None) -> httpx.Response:
    headers = {} if origin is None else {"Origin": origin}
    expires = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    return client.post("/api/v1/sessions", json={**SESSION, "expires_at": expires},
                       headers=headers)  # fmt: skip


def test_a_cookie_change_from_another_origin_is_refused(vault: VaultProcess) -> None:
    with _browser(vault) as browser:
        for origin in (SIBLING, "null", None, vault.url.replace("https", "http")):
            refused = _start_session(browser, origin)
            assert refused.status_code == 403, (origin, refused.text)
            assert refused.json()["error"] == "cross-site-request"
        assert browser.get("/api/v1/sessions").json() == [], "nothing was started"
        assert browser.get("/api/v1/me").status_code == 200, "reading needs no origin"
        assert _start_session(browser, vault.url).status_code == 201


def test_a_bearer_token_is_unaffected_by_origin(vault: VaultProcess) -> None:
    token = vault.admin("token", "create", "tina").strip()
    with vault.client(token) as script:
        assert _start_session(script, SIBLING).status_code == 201
        assert _start_session(script, None).status_code == 201


def test_a_sign_in_posted_from_another_origin_is_refused(vault: VaultProcess) -> None:
    with httpx.Client(base_url=vault.url, verify=client_ssl_context(vault.ca)) as client:
        refused = client.post(
            "/api/v1/login",
            json={"username": "tina", "password": PASSWORD},
            headers={"Origin": SIBLING},
        )
    assert refused.status_code == 403
    assert "set-cookie" not in refused.headers
