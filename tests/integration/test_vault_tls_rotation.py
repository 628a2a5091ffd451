"""The vault's TLS key changes without re-enrolling agents, and nothing else is trusted.

Against a real `callreel-vault serve`: an agent enrolled with the vault's key uploads; the
vault prepares its next key (`tls prepare-rotation`), which heartbeats announce and the agent
keeps in its enrolment; `tls rotate` waits until the device has heard; the vault restarts with
the new key and the agent goes on uploading. A vault restarted with a key it never announced
is refused during the handshake: nothing reaches it. Through a real HTTP CONNECT proxy the
key is checked just the same, and a proxy that leads to an impostor is refused.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from agent.paths import AgentPaths
from agent.spool.spool import RecordingState, Spool, VaultState
from agent.upload.uploader import Uploader
from agent.vault_connection.client import VaultRequestError
from agent.vault_connection.enrolment import (
    Enrolment,
    device_client,
    enrol_device,
    trusted_pins,
)
from agent.vault_connection.kept_enrolment import KeptEnrolment
from agent.vault_connection.proxy_choice import DIRECT
from agent.vault_connection.tls_pin_follower import TlsPinFollower
from protocol.keys import VaultRecipient
from protocol.pinned_tls import TrustedPins, certificate_file_pin
from tests.helpers.agent_harness import VaultProcess, add_people, start_session
from tests.helpers.connect_proxy import connect_proxy
from tests.helpers.vault_harness import running_vault, sealed_recording
from vault import devices
from vault.db.opening import open_database
from vault.db.tables import devices as device_rows
from vault.db.tables import recordings
from vault.roles import Role
from vault.tls import KEY_FILENAME, TlsFiles, ensure_certificate, server_ssl_context

LONG = 60.0


def _wait(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + LONG
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _vault_cli(vault: VaultProcess, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vault.cli", *arguments, "--data", str(vault.data)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@dataclass
class Agent:
    """What the tray agent wires together for uploads (agent/app.py), minus Qt."""

    paths: AgentPaths
    kept: KeptEnrolment
    pins: TrustedPins
    """Shared by every connection, and updated by what heartbeats announce."""
    spool: Spool

    @contextlib.contextmanager
    def uploading(self) -> Iterator[Uploader]:
        # Its connections close afterwards: a vault stopping waits for open ones (up to 30 s).
        with device_client(self.paths, self.kept.current, self.pins, DIRECT) as device:
            uploader = Uploader(
                self.spool,
                device,
                agent_version="test",
                heartbeat_s=0.2,
                on_vault_tls_pins=TlsPinFollower(self.kept, self.pins, policy_pins=()),
            )
            uploader.start()
            try:
                yield uploader
            finally:
                uploader.stop()

    def spool_recording(self, session: str) -> uuid.UUID:
        recording = sealed_recording(self.kept.current.recipient())
        self.spool.set_recording_session(recording.recording_id, session, time.time())
        for _sha, data in recording.segments:
            self.spool.put(data)
        self.spool.set_recording_state(recording.recording_id, RecordingState.COMPLETE)
        return recording.recording_id

    def vault_state(self, recording_id: uuid.UUID) -> VaultState | None:
        found = self.spool.recording(recording_id)
        return None if found is None else found.vault_state


def _at_the_vault(vault: VaultProcess, recording_id: uuid.UUID) -> bool:
    engine = open_database(f"sqlite:///{vault.data / 'vault.db'}")
    try:
        with engine.connect() as connection:
            found = connection.execute(
                sa.select(recordings.c.id).where(recordings.c.id == recording_id)
            ).first()
            return found is not None
    finally:
        engine.dispose()


def _last_heartbeat(vault: VaultProcess) -> object:
    engine = open_database(f"sqlite:///{vault.data / 'vault.db'}")
    try:
        with engine.connect() as connection:
            return connection.execute(sa.select(device_rows.c.heartbeat_at)).scalar_one()
    finally:
        engine.dispose()


def _replace_tls_files(vault: VaultProcess, files: TlsFiles) -> None:
    shutil.copyfile(files.cert_path, vault.ca)
    shutil.copyfile(files.key_path, vault.ca.parent / KEY_FILENAME)


def _announce_and_rotate(vault: VaultProcess, agent: Agent, first_pin: str) -> str:
    """The vault prepares its next key while it runs; `tls rotate` waits for the device's
    heartbeat, which brings the agent the next key's pin. Returns that pin."""
    prepared = _vault_cli(vault, "tls", "prepare-rotation")
    assert prepared.returncode == 0, prepared.stderr
    next_pin = certificate_file_pin(vault.data / "tls" / "vault-tls-next.crt")
    assert next_pin in prepared.stdout
    refused = _vault_cli(vault, "tls", "rotate")
    assert refused.returncode == 1
    assert "1 device(s) have sent no heartbeat since" in refused.stdout
    assert "not rotating" in refused.stderr

    kept_on_disk = agent.paths.enrolment_file
    with agent.uploading():
        _wait(lambda: next_pin in Enrolment.load(kept_on_disk).pins(),
              "a heartbeat to announce the next key")  # fmt: skip
        _wait(lambda: "safe to rotate" in _vault_cli(vault, "tls", "status").stdout,
              "the vault to see the device's heartbeat")  # fmt: skip
    assert Enrolment.load(kept_on_disk).pins() == (first_pin, next_pin)
    rotated = _vault_cli(vault, "tls", "rotate")
    assert rotated.returncode == 0, rotated.stdout + rotated.stderr
    return next_pin


def _keeps_uploading(vault: VaultProcess, agent: Agent, session_id: str, pin: str) -> None:
    assert certificate_file_pin(vault.ca) == pin, "the vault serves its new key"
    after = agent.spool_recording(session_id)
    with agent.uploading():
        _wait(lambda: agent.vault_state(after) is VaultState.ENDED,
              "an upload to the vault's new key")  # fmt: skip
    assert _at_the_vault(vault, after)
    # The agent restarted from its enrolment file trusts the new key too.
    reloaded = Enrolment.load(agent.paths.enrolment_file)
    assert reloaded.pins()[0] == pin
    pins = trusted_pins(reloaded.pins(), ())
    with device_client(agent.paths, reloaded, pins, DIRECT) as restarted:
        assert len(restarted.sessions()) == 1


def _refuses(agent: Agent, session_id: str, impostor: TlsFiles, trusted_pin: str) -> uuid.UUID:
    """The agent refuses the vault's unannounced key, saying which and what to do; the
    recording stays in its spool. Returns the recording."""
    refused_recording = agent.spool_recording(session_id)
    with agent.uploading() as uploader:
        _wait(lambda: impostor.key_pin in (uploader.status().last_error or ""),
              "the agent to refuse the unannounced key")  # fmt: skip
    error = uploader.status().last_error or ""
    assert "does not trust" in error
    assert trusted_pin in error
    assert "vault_tls_pins" in error
    assert agent.vault_state(refused_recording) is VaultState.UNREGISTERED
    assert impostor.key_pin not in agent.pins.snapshot()
    return refused_recording


def test_an_announced_key_keeps_the_agent_uploading_and_an_unannounced_one_is_refused(
    tmp_path: Path,
) -> None:
    vault = VaultProcess(tmp_path / "vault")
    vault.start()
    try:
        people = add_people(vault)
        session_id = str(uuid.UUID(start_session(vault, people, calls=5).split()[1]))
        paths = AgentPaths.under(tmp_path / "agent")
        token = vault.admin("enroll-token", "--agent", people.agent).strip()
        enrolment = enrol_device(paths, vault.url, vault.ca, token)
        first_pin = certificate_file_pin(vault.ca)
        assert enrolment.pins() == (first_pin,)
        pins = trusted_pins(enrolment.pins(), ())
        with Spool(tmp_path / "spool", min_free_bytes=0) as spool:
            agent = Agent(paths, KeptEnrolment(enrolment, paths.enrolment_file), pins, spool)
            before = agent.spool_recording(session_id)
            with agent.uploading():
                _wait(lambda: agent.vault_state(before) is VaultState.ENDED, "the first upload")

            next_pin = _announce_and_rotate(vault, agent, first_pin)
            vault.stop()
            vault.start()
            _keeps_uploading(vault, agent, session_id, next_pin)

            # Someone restarts the vault with a key it never announced.
            vault.stop()
            impostor = ensure_certificate(tmp_path / "never-announced")
            _replace_tls_files(vault, impostor)
            heard_before = _last_heartbeat(vault)
            vault.start()
            refused_recording = _refuses(agent, session_id, impostor, next_pin)
    finally:
        vault.stop()
    assert not _at_the_vault(vault, refused_recording), "nothing was uploaded to it"
    assert _last_heartbeat(vault) == heard_before, "not even a heartbeat reached it"


# -- through an HTTP CONNECT proxy ----------------------------------------------------------


@dataclass
class TlsListener:
    port: int
    received: list[bytes]
    """Application bytes that arrived after a completed handshake."""


@contextlib.contextmanager
def impostor_server(files: TlsFiles) -> Iterator[TlsListener]:
    """A TLS server with a key of its own that keeps whatever a client sends it."""
    context = server_ssl_context(files)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    found = TlsListener(listener.getsockname()[1], [])
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            with connection, contextlib.suppress(ssl.SSLError, OSError):
                connection.settimeout(5)
                with context.wrap_socket(connection, server_side=True) as tls:
                    while data := tls.recv(65536):
                        found.received.append(data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield found
    finally:
        stop.set()
        thread.join(10)
        listener.close()


def test_the_vault_is_reached_through_a_connect_proxy_and_its_key_is_still_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    with running_vault(tmp_path) as vault, connect_proxy() as proxy:
        vault.add_person("alice", Role.AGENT)
        assert vault.ca is not None
        url = str(vault.client.base_url)
        vault_address = url.removeprefix("https://")
        paths = AgentPaths.under(tmp_path / "agent")
        token = devices.issue_enrol_token(vault.ctx.engine, "alice", by="test",
                                          now=vault.ctx.clock())  # fmt: skip
        enrolment = enrol_device(paths, url, vault.ca, token, proxy_setting=proxy.url)
        assert proxy.asked_for() == [vault_address], "enrolled through the proxy"
        pins = trusted_pins(enrolment.pins(), ())
        with device_client(paths, enrolment, pins, proxy.url) as device:
            assert device.sessions() == []
        assert len(proxy.asked_for()) == 2

        # Empty vault_proxy: the system's proxy (here the environment's), and its exceptions.
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        with device_client(paths, enrolment, pins, "") as device:
            assert device.sessions() == []
        assert len(proxy.asked_for()) == 3
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        with device_client(paths, enrolment, pins, "") as device:
            assert device.sessions() == []
        assert len(proxy.asked_for()) == 3, "NO_PROXY names the vault: straight there"

    impostor_files = ensure_certificate(tmp_path / "impostor")
    with (
        impostor_server(impostor_files) as impostor,
        connect_proxy(redirect_to=("127.0.0.1", impostor.port)) as lying_proxy,
        device_client(paths, enrolment, pins, lying_proxy.url) as device,
        pytest.raises(VaultRequestError) as refused,
    ):
        device.sessions()
    assert lying_proxy.asked_for() == [vault_address], "the tunnel was opened"
    assert refused.value.code == "untrusted-vault-key"
    assert impostor_files.key_pin in str(refused.value)
    assert enrolment.pins()[0] in str(refused.value)
    assert impostor.received == [], "not a byte of the request reached the impostor"
    assert VaultRecipient.from_text(enrolment.vault_recipient).key_id == (
        vault.ctx.identity.recipient.key_id
    )
