"""The agent's side of the vault API: enrolment and signed requests (no Qt, no threads).
Every failure is a VaultRequestError that says whether retrying can help (DESIGN invariant 5):
connection problems, timeouts, 408, 429 and 5xx are retryable; other 4xx are permanent and
carry the vault's reason."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from protocol.signing import DeviceKey, sign_request

RETRYABLE_STATUSES = frozenset({408, 429})


class VaultRequestError(Exception):
    def __init__(self, message: str, *, status: int | None, code: str, retryable: bool) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.retryable = retryable


@dataclass(frozen=True, slots=True)
class Enrolled:
    device_id: uuid.UUID
    agent: str
    vault_recipient: str


def _raise_for(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        payload = response.json()
        code = str(payload.get("error", "http-error"))
        message = str(payload.get("message") or payload.get("detail") or response.text)
    except (ValueError, AttributeError):
        code, message = "http-error", response.text[:500]
    retryable = response.status_code >= 500 or response.status_code in RETRYABLE_STATUSES
    raise VaultRequestError(
        f"vault answered {response.status_code}: {message}",
        status=response.status_code,
        code=code,
        retryable=retryable,
    )


def _send(client: httpx.Client, request: httpx.Request) -> httpx.Response:
    try:
        response = client.send(request)
    except httpx.TimeoutException as exc:
        raise VaultRequestError(
            f"vault timed out: {exc}", status=None, code="timeout", retryable=True
        ) from None
    except httpx.TransportError as exc:
        raise VaultRequestError(
            f"vault unreachable: {exc}", status=None, code="connection", retryable=True
        ) from None
    _raise_for(response)
    return response


def enrol(client: httpx.Client, token: str, key: DeviceKey, hostname: str) -> Enrolled:
    request = client.build_request(
        "POST",
        "/api/v1/agent/enrol",
        json={"token": token, "public_key": key.public_text(), "hostname": hostname},
    )
    payload = _send(client, request).json()
    return Enrolled(uuid.UUID(payload["device_id"]), payload["agent"], payload["vault_recipient"])


class DeviceClient:
    """Signed requests for one enrolled device."""

    def __init__(
        self,
        client: httpx.Client,
        device_id: uuid.UUID,
        key: DeviceKey,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._device_id = device_id
        self._key = key
        self._clock = clock

    @property
    def device_id(self) -> uuid.UUID:
        return self._device_id

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> DeviceClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _request(
        self, method: str, path: str, body: bytes = b"", content_type: str = "application/json"
    ) -> httpx.Response:
        headers = sign_request(self._key, self._device_id, method, path, body, now=self._clock())
        if body:
            headers["Content-Type"] = content_type
        request = self._client.build_request(method, path, content=body, headers=headers)
        return _send(self._client, request)

    def _json(self, method: str, path: str, payload: dict[str, Any] | None = None) -> Any:
        body = b"" if payload is None else json.dumps(payload).encode()
        return self._request(method, path, body).json()

    def sessions(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._json("GET", "/api/v1/agent/sessions")
        return result

    def register_recording(
        self, recording_id: uuid.UUID, session_id: uuid.UUID, started_at: datetime
    ) -> None:
        self._json(
            "POST",
            "/api/v1/agent/recordings",
            {
                "recording_id": str(recording_id),
                "session_id": str(session_id),
                "started_at": started_at.isoformat(),
            },
        )

    def upload_segment(self, sha256: str, sealed: bytes) -> bool:
        """True if the vault stored it now, False if it already had it."""
        response = self._request(
            "PUT", f"/api/v1/agent/segments/{sha256}", sealed, "application/octet-stream"
        )
        return response.status_code == 201

    def end_recording(self, recording_id: uuid.UUID, state: str) -> None:
        self._json("POST", f"/api/v1/agent/recordings/{recording_id}/end", {"state": state})

    def heartbeat(self, agent_version: str, backlog_segments: int, backlog_bytes: int) -> None:
        self._json(
            "POST",
            "/api/v1/agent/heartbeat",
            {
                "agent_version": agent_version,
                "backlog_segments": backlog_segments,
                "backlog_bytes": backlog_bytes,
            },
        )

    def access_history(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._json("GET", "/api/v1/agent/access-history")
        return result
