"""This machine's enrolment with a vault: the device key, the pinned certificate, the device id.

`callreel-agent enrol --vault URL --ca FILE --token TOKEN` makes a new device key, presents it
with IT's one-time token, and keeps what the vault answered in `enrolment.json`. The vault's
certificate is copied next to it, so the agent keeps trusting exactly that certificate even if
the file it was given moves. Nothing secret is written to the log or printed.
"""

from __future__ import annotations

import json
import shutil
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from agent.paths import AgentPaths
from agent.settings.fields import AgentSettings
from agent.vault_connection.client import DeviceClient, VaultRequestError, enrol
from agent.vault_connection.os_login import os_login
from protocol.atomic_files import atomic_output
from protocol.keys import KeyFileError, VaultRecipient
from protocol.pinned_tls import TlsCertificateError, client_ssl_context
from protocol.signing import DeviceKey

PINNED_CA_NAME = "vault-ca.pem"
MAX_ENROLMENT_BYTES = 64 * 1024
REQUEST_TIMEOUT = httpx.Timeout(30.0, connect=10.0)


class EnrolmentError(RuntimeError):
    """Not enrolled, or the enrolment on disk is unusable; the message says what to do."""


@dataclass(frozen=True, slots=True)
class Enrolment:
    vault_url: str
    ca_file: Path
    device_id: uuid.UUID
    agent: str
    vault_recipient: str

    def recipient(self) -> VaultRecipient:
        return VaultRecipient.from_text(self.vault_recipient)

    def save(self, path: Path) -> None:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        document = {
            "vault_url": self.vault_url,
            "ca_file": str(self.ca_file),
            "device_id": str(self.device_id),
            "agent": self.agent,
            "vault_recipient": self.vault_recipient,
        }
        with atomic_output(path, mode=0o600) as handle:
            handle.write(json.dumps(document, indent=2).encode())

    @classmethod
    def load(cls, path: Path) -> Enrolment:
        try:
            raw = path.read_bytes()[: MAX_ENROLMENT_BYTES + 1]
        except FileNotFoundError:
            raise EnrolmentError(
                f"this machine is not enrolled ({path} does not exist); ask IT for an enrolment"
                " token and run: callreel-agent enrol --vault URL --ca FILE --token TOKEN"
            ) from None
        if len(raw) > MAX_ENROLMENT_BYTES:
            raise EnrolmentError(f"{path} is larger than {MAX_ENROLMENT_BYTES} bytes; enrol again")
        try:
            document: Any = json.loads(raw)
            enrolment = cls(
                vault_url=_text(document, "vault_url"),
                ca_file=Path(_text(document, "ca_file")),
                device_id=uuid.UUID(_text(document, "device_id")),
                agent=_text(document, "agent"),
                vault_recipient=_text(document, "vault_recipient"),
            )
            enrolment.recipient()
        except (ValueError, TypeError, KeyFileError) as exc:
            raise EnrolmentError(
                f"{path} is damaged ({exc}); enrol this machine again with callreel-agent enrol"
            ) from None
        return enrolment


def _text(document: Any, key: str) -> str:
    if not isinstance(document, dict):
        raise TypeError("the file does not hold a JSON object")
    value = document.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{key!r} is missing or not text")
    return value


def vault_http_client(vault_url: str, ca_file: Path) -> httpx.Client:
    """An HTTPS client for the vault that trusts only its pinned certificate."""
    if not vault_url.startswith("https://"):
        raise EnrolmentError(f"the vault address must start with https://, got {vault_url!r}")
    try:
        context = client_ssl_context(ca_file)
    except TlsCertificateError as exc:
        raise EnrolmentError(str(exc)) from None
    return httpx.Client(base_url=vault_url, verify=context, timeout=REQUEST_TIMEOUT)


def enrol_device(paths: AgentPaths, vault_url: str, ca_file: Path, token: str) -> Enrolment:
    """Enrol this machine; refuses to replace an existing enrolment's key."""
    if paths.device_key_file.exists():
        raise EnrolmentError(
            f"this machine already has a device key ({paths.device_key_file}); to enrol it"
            " again (IT revoked it, or it moves to another vault), move the key and"
            f" {paths.enrolment_file.name} away first"
        )
    key = DeviceKey.generate()
    with vault_http_client(vault_url, ca_file) as client:
        try:
            enrolled = enrol(client, token.strip(), key, socket.gethostname(), os_login())
        except VaultRequestError as exc:
            raise EnrolmentError(f"the vault refused the enrolment: {exc}") from None
    paths.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    pinned = paths.data_dir / PINNED_CA_NAME
    if ca_file.resolve() != pinned.resolve():
        shutil.copyfile(ca_file, pinned)
    key.save(paths.device_key_file)
    enrolment = Enrolment(
        vault_url, pinned, enrolled.device_id, enrolled.agent, enrolled.vault_recipient
    )
    enrolment.save(paths.enrolment_file)
    return enrolment


def enrol_from_policy(paths: AgentPaths, settings: AgentSettings) -> Enrolment:
    """Enrol this user with IT's fleet token at first start; EnrolmentError says what is
    missing or why the vault refused."""
    if not settings.enrolment_token:
        raise EnrolmentError(
            f"this user is not enrolled ({paths.enrolment_file} does not exist) and the policy"
            " has no enrolment_token; ask IT for one, or run callreel-agent enrol"
        )
    if not settings.vault_ca_file:
        raise EnrolmentError(
            "the policy has an enrolment_token but no vault_ca_file (the vault's certificate to"
            " trust); ask IT to fix the policy"
        )
    return enrol_device(
        paths, settings.vault_url, Path(settings.vault_ca_file), settings.enrolment_token
    )


def device_client(paths: AgentPaths, enrolment: Enrolment) -> DeviceClient:
    try:
        key = DeviceKey.load(paths.device_key_file)
    except KeyFileError as exc:
        raise EnrolmentError(f"{exc}; enrol this machine again with callreel-agent enrol") from None
    client = vault_http_client(enrolment.vault_url, enrolment.ca_file)
    return DeviceClient(client, enrolment.device_id, key)
