"""This machine's enrolment with a vault: the device key, the vault's pinned TLS keys, the
device id.

`callreel-agent enrol --vault URL --ca FILE --token TOKEN` makes a new device key, presents it
with IT's one-time token, and keeps what the vault answered in `enrolment.json`, with the pin
of the vault certificate's key (protocol/tls_pins.py). The certificate is copied next to it
too, for older agents and for people to look at. An enrolment saved by 0.1.0 has only the
certificate: its pin is computed from it when loaded. Nothing secret is logged or printed.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from agent.paths import AgentPaths
from agent.settings.fields import AgentSettings
from agent.vault_connection.client import DeviceClient, VaultRequestError, enrol
from agent.vault_connection.os_login import os_login
from agent.vault_connection.proxy_choice import DIRECT, ProxyChoiceError, choose_proxy
from protocol.atomic_files import atomic_output
from protocol.keys import KeyFileError, VaultRecipient
from protocol.pinned_tls import (
    TlsCertificateError,
    TrustedPins,
    certificate_file_pin,
    key_pinning_context,
)
from protocol.signing import DeviceKey
from protocol.tls_pins import MAX_KEPT_PINS, TlsPinError, parse_pins

log = logging.getLogger(__name__)
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
    tls_pins: tuple[str, ...] = ()
    """The vault TLS keys this machine trusts, most recently announced first; empty: the key
    of `ca_file`'s certificate (as 0.1.0 enrolled)."""

    def recipient(self) -> VaultRecipient:
        return VaultRecipient.from_text(self.vault_recipient)

    def pins(self) -> tuple[str, ...]:
        """The vault TLS keys this machine trusts (TlsCertificateError if they come from a
        certificate file that is gone)."""
        return self.tls_pins or (certificate_file_pin(self.ca_file),)

    def save(self, path: Path) -> None:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        document = {
            "vault_url": self.vault_url,
            "ca_file": str(self.ca_file),
            "device_id": str(self.device_id),
            "agent": self.agent,
            "vault_recipient": self.vault_recipient,
            "tls_pins": list(self.pins()),
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
                tls_pins=_pins(document),
            )
            enrolment.recipient()
        except (ValueError, TypeError, KeyFileError) as exc:
            raise EnrolmentError(
                f"{path} is damaged ({exc}); enrol this machine again with callreel-agent enrol"
            ) from None
        if enrolment.tls_pins:
            return enrolment
        try:
            return dataclasses.replace(enrolment, tls_pins=enrolment.pins())
        except TlsCertificateError as exc:
            raise EnrolmentError(
                f"{path} names no vault TLS key, and the certificate it was enrolled with cannot"
                f" be read ({exc}); restore {enrolment.ca_file}, or enrol this machine again"
                " with callreel-agent enrol"
            ) from None


def _text(document: Any, key: str) -> str:
    if not isinstance(document, dict):
        raise TypeError("the file does not hold a JSON object")
    value = document.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{key!r} is missing or not text")
    return value


def _pins(document: Any) -> tuple[str, ...]:
    """The kept pins; none from a file 0.1.0 wrote."""
    listed = document.get("tls_pins")
    if listed is None:
        return ()
    if not isinstance(listed, list) or not listed:
        raise ValueError("'tls_pins' is not a list of pins")
    try:
        return parse_pins(listed, MAX_KEPT_PINS)
    except TlsPinError as exc:
        raise ValueError(str(exc)) from None


def vault_http_client(vault_url: str, pins: TrustedPins, proxy_setting: str) -> httpx.Client:
    """An HTTPS client for the vault that trusts only the vault keys in `pins` (also through a
    proxy), and reaches it as the `vault_proxy` setting says."""
    if not vault_url.startswith("https://"):
        raise EnrolmentError(f"the vault address must start with https://, got {vault_url!r}")
    try:
        proxy = choose_proxy(vault_url, proxy_setting)
    except ProxyChoiceError as exc:
        raise EnrolmentError(str(exc)) from None
    log.info("reaching the vault %s %s", vault_url, proxy.describe())
    # trust_env=False: the proxy is the one chosen above, and the environment cannot add a CA
    # bundle or .netrc credentials to the vault's connection.
    return httpx.Client(
        base_url=vault_url,
        verify=key_pinning_context(pins),
        proxy=proxy.url,
        trust_env=False,
        timeout=REQUEST_TIMEOUT,
    )


def trusted_pins(enrolment_pins: Sequence[str], policy_pins: Sequence[str]) -> TrustedPins:
    return TrustedPins([*enrolment_pins, *policy_pins])


def enrol_device(
    paths: AgentPaths,
    vault_url: str,
    ca_file: Path,
    token: str,
    *,
    policy_pins: Sequence[str] = (),
    proxy_setting: str = DIRECT,
) -> Enrolment:
    """Enrol this machine, trusting the vault key of `ca_file`'s certificate and the policy's
    pins; refuses to replace an existing enrolment's key."""
    if paths.device_key_file.exists():
        raise EnrolmentError(
            f"this machine already has a device key ({paths.device_key_file}); to enrol it"
            " again (IT revoked it, or it moves to another vault), move the key and"
            f" {paths.enrolment_file.name} away first"
        )
    try:
        pin = certificate_file_pin(ca_file)
    except TlsCertificateError as exc:
        raise EnrolmentError(str(exc)) from None
    key = DeviceKey.generate()
    with vault_http_client(vault_url, trusted_pins([pin], policy_pins), proxy_setting) as client:
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
        vault_url, pinned, enrolled.device_id, enrolled.agent, enrolled.vault_recipient, (pin,)
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
        paths,
        settings.vault_url,
        Path(settings.vault_ca_file),
        settings.enrolment_token,
        policy_pins=settings.vault_tls_pins,
        proxy_setting=settings.vault_proxy,
    )


def device_client(
    paths: AgentPaths, enrolment: Enrolment, pins: TrustedPins, proxy_setting: str
) -> DeviceClient:
    try:
        key = DeviceKey.load(paths.device_key_file)
    except KeyFileError as exc:
        raise EnrolmentError(f"{exc}; enrol this machine again with callreel-agent enrol") from None
    client = vault_http_client(enrolment.vault_url, pins, proxy_setting)
    return DeviceClient(client, enrolment.device_id, key)
