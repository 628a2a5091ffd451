"""A vault under test: the real application served by uvicorn over HTTPS on a loopback port
(in a thread of the test process, so tests can set its clock), on SQLite + disk or
PostgreSQL + Ceph RGW, with people, an enrolled device and real sealed recordings."""

from __future__ import annotations

import functools
import hashlib
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import uvicorn
from fastapi import FastAPI

from agent.capture.encoder import EncoderSettings
from agent.vault_connection.client import DeviceClient, enrol
from protocol.api.vocabulary import Purpose
from protocol.keys import VaultIdentity, VaultRecipient
from protocol.pinned_tls import client_ssl_context
from protocol.segments.format import METADATA_SEGMENT_INDEX, MediaType
from protocol.segments.seal import RecordingSealer
from protocol.signing import DeviceKey
from tests.helpers.synthetic_recording import gapless_metadata, record_segments, stereo_tone
from vault import accounts, devices
from vault.api.app import create_app
from vault.api.guarded_connection import uvicorn_config
from vault.api.serving_limits import ServingLimits
from vault.context import VaultContext
from vault.db.opening import open_database
from vault.purposes import RETENTION, RetentionRule
from vault.roles import Role
from vault.storage.factory import open_segment_store
from vault.tls import ensure_certificate

PASSWORD = "correct horse battery staple"  # noqa: S105  (test users only)


class SettableClock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


class _Serving:
    """uvicorn serving the app over HTTPS in a thread; it can stop and start again on the
    same port, so that clients see an outage and then the same vault come back."""

    def __init__(self, app: FastAPI, cert_path: Path, key_path: Path) -> None:
        self._app = app
        self._cert_path = cert_path
        self._key_path = key_path
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    def start(self) -> None:
        config = uvicorn_config(
            self._app,
            ServingLimits(),
            host="127.0.0.1",
            port=self.port,
            cert_path=self._cert_path,
            key_path=self._key_path,
            log_level="warning",
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name="vault-under-test", daemon=True)
        self._server, self._thread = server, thread
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the vault under test did not start")
            time.sleep(0.01)
        self.port = server.servers[0].sockets[0].getsockname()[1]

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.should_exit = True
        if server.servers:

            def drop_connections() -> None:
                # A graceful TLS close waits up to 30 s for idle keep-alive clients to answer
                # close_notify; a vault that goes away drops its connections instead.
                for connection in list(server.server_state.connections):
                    transport = getattr(connection, "transport", None)
                    if transport is not None:
                        transport.abort()

            server.servers[0].get_loop().call_soon_threadsafe(drop_connections)
        thread.join(30)
        self._server = self._thread = None


@dataclass
class VaultUnderTest:
    ctx: VaultContext
    app: FastAPI
    client: httpx.Client
    tokens: dict[str, str] = field(default_factory=dict)
    serving: _Serving | None = field(default=None, repr=False)
    ca: Path | None = None
    """The vault's TLS certificate, for more clients of its own (browsers' cookies)."""

    def stop_serving(self) -> None:
        """The vault goes away: connections to its address are refused until resumed."""
        assert self.serving is not None
        self.serving.stop()

    def resume_serving(self) -> None:
        """The same vault (database, store, key) answers again on the same address."""
        assert self.serving is not None
        self.serving.start()

    def as_user(self, username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[username]}"}

    def add_person(
        self, username: str, *roles: Role, team: str | None = None, password: str | None = None
    ) -> dict[str, str]:
        accounts.add_user(
            self.ctx.engine,
            username,
            frozenset(roles),
            now=self.ctx.clock(),
            by="test",
            team=team,
            password=password,
        )
        self.tokens[username] = accounts.issue_token(
            self.ctx.engine,
            username,
            now=self.ctx.clock(),
            label="test",
            lifetime=timedelta(days=3650),
            by="test",
        )
        return self.as_user(username)

    def enrol_device(self, agent: str) -> DeviceClient:
        token = devices.issue_enrol_token(self.ctx.engine, agent, by="test", now=self.ctx.clock())
        key = DeviceKey.generate()
        enrolled = enrol(self.client, token, key, "agent-pc-1")
        return DeviceClient(
            self.client, enrolled.device_id, key, clock=lambda: self.ctx.clock().timestamp()
        )

    def start_session(
        self, trainer: str, agent: str, *, calls: int = 1, purpose: Purpose = Purpose.TRAINING
    ) -> uuid.UUID:
        response = self.client.post(
            "/api/v1/sessions",
            headers=self.as_user(trainer),
            json={
                "agent": agent,
                "calls": calls,
                "purpose": purpose.value,
                "expires_at": (self.ctx.clock() + timedelta(hours=8)).isoformat(),
                "notice_text": "This call is recorded for training.",
            },
        )
        assert response.status_code == 201, response.text
        return uuid.UUID(response.json()["session_id"])


@contextmanager
def running_vault(
    root: Path,
    *,
    db_url: str | None = None,
    store_url: str | None = None,
    clock: Callable[[], datetime] | None = None,
    retention: RetentionRule | None = None,
    identity: VaultIdentity | None = None,
) -> Iterator[VaultUnderTest]:
    the_clock = clock or SettableClock()
    (root / "segments").mkdir(exist_ok=True)
    ctx = VaultContext(
        engine=open_database(db_url or f"sqlite:///{root / 'vault.db'}"),
        store=open_segment_store(store_url or str(root / "segments"), clock=the_clock),
        identity=identity or VaultIdentity.generate(),
        clock=the_clock,
        retention=dict.fromkeys(Purpose, retention) if retention else dict(RETENTION),
    )
    app = create_app(ctx)
    tls = ensure_certificate(root / "tls")
    serving = _Serving(app, tls.cert_path, tls.key_path)
    try:
        serving.start()
        with httpx.Client(
            base_url=f"https://127.0.0.1:{serving.port}",
            verify=client_ssl_context(tls.cert_path),
            timeout=60,
        ) as client:
            yield VaultUnderTest(ctx, app, client, serving=serving, ca=tls.cert_path)
    finally:
        serving.stop()
        ctx.engine.dispose()


@functools.cache
def _encoded_media() -> tuple[bytes, ...]:
    """Three 1-second H.264 segments of a small coloured screen with a stereo tone."""
    settings = EncoderSettings(width=160, height=120, segment_seconds=1.0)
    screen = np.zeros((120, 160, 4), dtype=np.uint8)
    screen[..., 1] = 200
    segments = record_segments(
        settings,
        seconds=3.0,
        fps=5,
        screen_at=lambda _t: screen,
        sound=lambda start, count: stereo_tone(start, count, left_hz=440, right_hz=660),
    )
    return tuple(s.data for s in segments)


@dataclass(frozen=True)
class SealedRecording:
    recording_id: uuid.UUID
    segments: list[tuple[str, bytes]]
    """(SHA-256, sealed bytes) in upload order: media segments, then the metadata."""
    sealer: RecordingSealer


def sealed_recording(
    recipient: VaultRecipient,
    media: Sequence[bytes] | None = None,
    *,
    segment_seconds: float = 1.0,
) -> SealedRecording:
    """`media` (MP4 segments of `segment_seconds`), or three 1 s segments of a green screen."""
    recording_id = uuid.uuid4()
    sealer = RecordingSealer(recipient, recording_id)
    media = _encoded_media() if media is None else media
    sealed = [sealer.seal(i, MediaType.MP4, data) for i, data in enumerate(media)]
    metadata = gapless_metadata(
        recording_id, segment_seconds=segment_seconds, media_segments=len(sealed)
    )
    sealed.append(sealer.seal(METADATA_SEGMENT_INDEX, MediaType.JSON, metadata.to_json()))
    return SealedRecording(
        recording_id, [(hashlib.sha256(s).hexdigest(), s) for s in sealed], sealer
    )


def upload_recording(
    vault: VaultUnderTest, device: DeviceClient, session_id: uuid.UUID
) -> SealedRecording:
    recording = sealed_recording(vault.ctx.identity.recipient)
    device.register_recording(recording.recording_id, session_id, vault.ctx.clock())
    for sha, data in recording.segments:
        assert device.upload_segment(sha, data)
    return recording


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
