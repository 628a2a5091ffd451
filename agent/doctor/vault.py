"""Doctor checks for the vault: enrolment, the pinned TLS certificate, health and the device."""

from __future__ import annotations

import datetime
import json
import socket
import ssl
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from agent.doctor.result import CheckResult, fail, ok, warn
from agent.paths import AgentPaths
from agent.settings.fields import AgentSettings
from agent.vault_connection.client import DeviceClient, VaultRequestError
from agent.vault_connection.local_vault import missing_vault_part
from protocol.keys import KeyFileError
from protocol.pinned_tls import TlsCertificateError, client_ssl_context
from protocol.signing import DeviceKey

TIMEOUT_S = 5.0
EXPIRY_WARNING = datetime.timedelta(days=30)
_ENROL_AGAIN = "enrol again with callreel-agent enrol"


@dataclass(frozen=True, slots=True)
class _Enrolment:
    vault_url: str
    ca_file: str
    device_id: uuid.UUID
    agent: str
    key: DeviceKey


def _read_enrolment(paths: AgentPaths) -> _Enrolment | CheckResult:
    name = "enrolment"
    if not paths.enrolment_file.exists():
        return fail(
            name,
            f"not enrolled: {paths.enrolment_file} does not exist",
            "enrol this machine with callreel-agent enrol (IT gives the token)",
        )
    try:
        data = json.loads(paths.enrolment_file.read_text(encoding="utf-8"))
        vault_url, ca_file, agent = str(data["vault_url"]), str(data["ca_file"]), str(data["agent"])
        device_id = uuid.UUID(str(data["device_id"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return fail(
            name, f"{paths.enrolment_file} is unreadable or incomplete: {exc}", _ENROL_AGAIN
        )
    if not paths.device_key_file.exists():
        return fail(
            name,
            f"enrolled as device {device_id}, but the device key {paths.device_key_file}"
            " is missing",
            f"restore the key from backup, or {_ENROL_AGAIN}",
        )
    try:
        key = DeviceKey.load(paths.device_key_file)
    except KeyFileError as exc:
        return fail(name, str(exc), f"chmod 600 {paths.device_key_file}, or {_ENROL_AGAIN}")
    return _Enrolment(vault_url, ca_file, device_id, agent, key)


def _check_tls(url: str, ca_file: Path) -> tuple[CheckResult, ssl.SSLContext | None]:
    name = "vault-tls"
    try:
        context = client_ssl_context(ca_file)
    except TlsCertificateError as exc:
        return fail(name, str(exc), f"restore the pinned certificate file, or {_ENROL_AGAIN}"), None
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or 443
    try:
        raw = socket.create_connection((host, port), timeout=TIMEOUT_S)
    except OSError as exc:
        return (
            fail(
                name,
                f"the vault at {url} is unreachable: {exc}",
                "check the network and that the vault is running; ask IT if it persists",
            ),
            None,
        )
    try:
        with context.wrap_socket(raw, server_hostname=host) as tls:
            certificate = tls.getpeercert() or {}
    except ssl.SSLCertVerificationError as exc:
        if exc.verify_code == 62:  # X509_V_ERR_HOSTNAME_MISMATCH
            return (
                fail(
                    name,
                    f"the vault's certificate does not cover {host}: {exc.verify_message}",
                    "use the vault URL with a name or address its certificate lists",
                ),
                None,
            )
        return (
            fail(
                name,
                f"the vault's certificate is not the one pinned at enrolment ({ca_file}):"
                f" {exc.verify_message}",
                "if the vault's certificate was replaced on purpose, enrol again with the new"
                " certificate file; otherwise something between here and the vault intercepts"
                " the connection: tell IT",
            ),
            None,
        )
    except (OSError, ssl.SSLError) as exc:
        raw.close()
        return fail(name, f"TLS handshake with {url} failed: {exc}", "tell IT"), None
    expires = datetime.datetime.fromtimestamp(
        ssl.cert_time_to_seconds(str(certificate.get("notAfter"))), datetime.UTC
    )
    left = expires - datetime.datetime.now(datetime.UTC)
    if left < EXPIRY_WARNING:
        return (
            warn(
                name,
                f"the vault's certificate expires on {expires:%Y-%m-%d} ({left.days} days)",
                "ask the vault's administrator to renew it; agents then enrol with the new one",
            ),
            context,
        )
    return ok(name, f"pinned certificate matches, valid until {expires:%Y-%m-%d}"), context


def _check_api(url: str, context: ssl.SSLContext, enrolment: _Enrolment) -> list[CheckResult]:
    results = []
    with httpx.Client(base_url=url, verify=context, timeout=TIMEOUT_S) as client:
        try:
            response = client.get("/api/v1/health")
            response.raise_for_status()
            version = response.json().get("version", "unknown")
        except (httpx.HTTPError, ValueError, AttributeError) as exc:
            return [fail("vault-health", f"{url}/api/v1/health failed: {exc}", "tell IT")]
        results.append(ok("vault-health", f"vault {version} at {url} is healthy"))
        device = DeviceClient(client, enrolment.device_id, enrolment.key)
        try:
            sessions = device.sessions()
        except VaultRequestError as exc:
            if exc.status == 401:
                fix = f"this device is not enrolled (or was revoked): {_ENROL_AGAIN}"
            elif exc.status == 403:
                fix = f"this device was revoked: {_ENROL_AGAIN}"
            else:
                fix = "retry later; tell IT if it persists" if exc.retryable else "tell IT"
            results.append(fail("vault-device", f"device {enrolment.device_id}: {exc}", fix))
            return results
    results.append(
        ok(
            "vault-device",
            f"device {enrolment.device_id} (agent {enrolment.agent}) is accepted;"
            f" {len(sessions)} training session(s) armed",
        )
    )
    return results


def check_vault(config: AgentSettings, paths: AgentPaths) -> list[CheckResult]:
    if not config.vault_url:
        missing = missing_vault_part()
        if missing:
            return [
                fail(
                    "vault",
                    "embedded default, but Callreel's vault part is not installed (missing:"
                    f" {', '.join(missing)})",
                    "set vault_url in the managed policy to the organisation's vault, or"
                    " install it: pip install 'callreel[agent,vault]'",
                )
            ]
        state = "exists" if paths.local_vault_dir.is_dir() else "is created on first start"
        return [
            ok(
                "vault",
                f"embedded default: the agent starts a local vault at {paths.local_vault_dir}"
                f" ({state})",
            )
        ]
    results = [ok("vault", f"vault {config.vault_url}")]
    enrolment = _read_enrolment(paths)
    if isinstance(enrolment, CheckResult):
        results.append(enrolment)
        return results
    if enrolment.vault_url.rstrip("/") != config.vault_url.rstrip("/"):
        results.append(
            fail(
                "enrolment",
                f"enrolled with {enrolment.vault_url}, but the policy names {config.vault_url}",
                f"{_ENROL_AGAIN} (with the vault the policy names)",
            )
        )
        return results
    results.append(
        ok("enrolment", f"device {enrolment.device_id} for agent {enrolment.agent}, key 0600")
    )
    ca_file = Path(enrolment.ca_file or config.vault_ca_file)
    tls, context = _check_tls(config.vault_url, ca_file)
    results.append(tls)
    if context is not None:
        results += _check_api(config.vault_url, context, enrolment)
    return results
