"""The agent's side of the vault API: enrolment and signed requests (no Qt, no threads).

Bodies are the protocol's models (protocol/api/agent.py), sent and parsed with them, so a
renamed field is an error here rather than a silently missing value. Every failure is a
VaultRequestError that says whether retrying can help (docs/design.md, invariant 5): connection
problems, timeouts, 408, 429 and 5xx are retryable; other 4xx are permanent and carry the
vault's reason; an answer that does not fit its model is permanent too.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from protocol.api.agent import (
    AccessHistory,
    AccessRecord,
    ConsoleLink,
    EnrolmentGranted,
    EnrolmentRequest,
    Heartbeat,
    HeartbeatReceived,
    RecordingEnded,
    RecordingEndReport,
    RecordingRegistered,
    RecordingRegistration,
    SegmentStored,
    TrainingSessionList,
    TrainingSessionView,
)
from protocol.api.base import Request
from protocol.api.errors import ErrorBody
from protocol.api.vocabulary import RecordingEnd
from protocol.pinned_tls import VaultKeyNotTrustedError
from protocol.signing import DeviceKey, sign_request

RETRYABLE_STATUSES = frozenset({408, 429})
WAIT_MARGIN_S = 10.0
"""How much longer than the vault's wait a waiting request may take before it times out."""
MAX_ERROR_TEXT = 500
CONSOLE_LINK_PATH = re.compile(r"/console/sign-in/once/[A-Za-z0-9_-]{1,100}")

Answer = TypeVar("Answer", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class SessionsAnswer:
    sessions: list[TrainingSessionView] | None
    """None: unchanged."""
    etag: str | None
    """None from a vault that cannot wait for changes (older than this agent)."""


class VaultRequestError(Exception):
    def __init__(self, message: str, *, status: int | None, code: str, retryable: bool) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.retryable = retryable


def _raise_for(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        refusal = ErrorBody.model_validate_json(response.content)
        code, message = refusal.error, refusal.message
    except ValidationError:
        code, message = "http-error", response.text[:MAX_ERROR_TEXT]
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
        refused_key = untrusted_key(exc)
        if refused_key is not None:
            # Retried like an outage (the spool keeps everything), but said as what it is.
            raise VaultRequestError(
                str(refused_key), status=None, code="untrusted-vault-key", retryable=True
            ) from None
        raise VaultRequestError(
            f"vault unreachable: {exc}", status=None, code="connection", retryable=True
        ) from None
    _raise_for(response)
    return response


def untrusted_key(exc: BaseException) -> VaultKeyNotTrustedError | None:
    """The pin refusal under httpx's and httpcore's wrappers, if that is what failed."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None or isinstance(seen, VaultKeyNotTrustedError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _parse(model: type[Answer], response: httpx.Response) -> Answer:
    try:
        return model.model_validate_json(response.content)
    except ValidationError as exc:
        raise VaultRequestError(
            f"the vault's answer to {response.request.method} {response.request.url.path} is"
            f" not a {model.__name__}: {exc.errors()[0]['msg']} (is the vault older than this"
            " agent? upgrade the vault first)",
            status=response.status_code,
            code="unexpected-answer",
            retryable=False,
        ) from None


def enrol(
    client: httpx.Client, token: str, key: DeviceKey, hostname: str, login: str | None = None
) -> EnrolmentGranted:
    """A device identity for `key`; a fleet token also needs the OS `login`."""
    body = EnrolmentRequest(
        token=token, public_key=key.public_text(), hostname=hostname, login=login
    )
    request = client.build_request(
        "POST",
        "/api/v1/agent/enrol",
        content=body.model_dump_json(),
        headers={"Content-Type": "application/json"},
    )
    return _parse(EnrolmentGranted, _send(client, request))


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
        self,
        method: str,
        path: str,
        body: bytes = b"",
        content_type: str = "application/json",
        *,
        extra_headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> httpx.Response:
        headers = sign_request(self._key, self._device_id, method, path, body, now=self._clock())
        if body:
            headers["Content-Type"] = content_type
        headers.update(extra_headers or {})
        request = self._client.build_request(
            method,
            path,
            content=body,
            headers=headers,
            timeout=httpx.USE_CLIENT_DEFAULT if timeout is None else timeout,
        )
        return _send(self._client, request)

    def _call(
        self, model: type[Answer], method: str, path: str, body: Request | None = None
    ) -> Answer:
        payload = b"" if body is None else body.model_dump_json().encode()
        return _parse(model, self._request(method, path, payload))

    def sessions(self) -> list[TrainingSessionView]:
        return self._call(TrainingSessionList, "GET", "/api/v1/agent/sessions").root

    def sessions_changed(self, known: str | None, wait_s: float) -> SessionsAnswer:
        """The sessions once they differ from the list whose ETag is `known`, waiting up to
        `wait_s` for a trainer to change them; `sessions` is None if nothing changed."""
        path = f"/api/v1/agent/sessions?wait={wait_s:g}"
        response = self._request(
            "GET",
            path,
            extra_headers={"If-None-Match": known} if known else None,
            timeout=wait_s + WAIT_MARGIN_S,
        )
        tag = response.headers.get("ETag")
        if response.status_code == 304:
            return SessionsAnswer(None, tag or known)
        return SessionsAnswer(_parse(TrainingSessionList, response).root, tag)

    def register_recording(
        self, recording_id: uuid.UUID, session_id: uuid.UUID, started_at: datetime
    ) -> None:
        body = RecordingRegistration(
            recording_id=recording_id, session_id=session_id, started_at=started_at
        )
        self._call(RecordingRegistered, "POST", "/api/v1/agent/recordings", body)

    def upload_segment(self, sha256: str, sealed: bytes) -> bool:
        """True if the vault stored it now, False if it already had it."""
        response = self._request(
            "PUT", f"/api/v1/agent/segments/{sha256}", sealed, "application/octet-stream"
        )
        _parse(SegmentStored, response)
        return response.status_code == 201

    def end_recording(self, recording_id: uuid.UUID, state: RecordingEnd) -> None:
        path = f"/api/v1/agent/recordings/{recording_id}/end"
        self._call(RecordingEnded, "POST", path, RecordingEndReport(state=state))

    def heartbeat(
        self, agent_version: str, backlog_segments: int, backlog_bytes: int
    ) -> HeartbeatReceived:
        body = Heartbeat(
            agent_version=agent_version,
            backlog_segments=backlog_segments,
            backlog_bytes=backlog_bytes,
        )
        return self._call(HeartbeatReceived, "POST", "/api/v1/agent/heartbeat", body)

    def access_history(self) -> list[AccessRecord]:
        return self._call(AccessHistory, "GET", "/api/v1/agent/access-history").root

    def console_link(self) -> ConsoleLink:
        """A one-time link that signs the browser into the console as this agent (own
        recordings only); the vault's address goes before its path."""
        return self._call(ConsoleLink, "POST", "/api/v1/agent/console-link")

    def console_sign_in_url(self) -> str:
        """The whole one-time link, on this vault's address only: the agent hands it to the
        desktop's browser, so an answer naming anything else is refused."""
        path = self.console_link().path
        if not CONSOLE_LINK_PATH.fullmatch(path):
            raise VaultRequestError(
                f"the vault's console link {path[:80]!r} is not a one-time sign-in path",
                status=None,
                code="bad-answer",
                retryable=False,
            )
        return str(self._client.base_url).rstrip("/") + path
