"""Doctor checks for the vault: enrolment, the proxy, the pinned TLS key, health and the device."""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass

import httpx
from cryptography import x509

from agent.doctor.result import CheckResult, fail, ok, warn
from agent.paths import AgentPaths
from agent.settings.fields import AgentSettings
from agent.vault_connection.client import DeviceClient, VaultRequestError, untrusted_key
from agent.vault_connection.enrolment import (
    Enrolment,
    EnrolmentError,
    trusted_pins,
    vault_http_client,
)
from agent.vault_connection.local_vault import missing_vault_part
from agent.vault_connection.proxy_choice import ProxyChoiceError, choose_proxy
from protocol.keys import KeyFileError
from protocol.pinned_tls import certificate_pin
from protocol.signing import DeviceKey

TIMEOUT_S = 5.0
EXPIRY_WARNING = datetime.timedelta(days=30)
_ENROL_AGAIN = "enrol again with callreel-agent enrol"


@dataclass(frozen=True, slots=True)
class _Enrolment:
    vault_url: str
    pins: tuple[str, ...]
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
    if not paths.device_key_file.exists():
        return fail(
            name,
            f"enrolled ({paths.enrolment_file}), but the device key {paths.device_key_file}"
            " is missing",
            f"restore the key from backup, or {_ENROL_AGAIN}",
        )
    try:
        key = DeviceKey.load(paths.device_key_file)
    except KeyFileError as exc:
        return fail(name, str(exc), f"chmod 600 {paths.device_key_file}, or {_ENROL_AGAIN}")
    try:
        # As the agent reads it: a 0.1.0 enrolment's pin comes from its certificate file.
        enrolment = Enrolment.load(paths.enrolment_file)
    except EnrolmentError as exc:
        return fail(name, str(exc), _ENROL_AGAIN)
    return _Enrolment(
        enrolment.vault_url, enrolment.pins(), enrolment.device_id, enrolment.agent, key
    )


def _peer_certificate(response: httpx.Response) -> bytes | None:
    stream = response.extensions.get("network_stream")
    ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
    # httpcore hands over the C-level _ssl object, or an ssl.SSLObject through a TLS proxy.
    getpeercert = getattr(ssl_object, "getpeercert", None)
    certificate = getpeercert(True) if callable(getpeercert) else None
    return certificate if isinstance(certificate, bytes) else None


def _check_tls(client: httpx.Client, url: str) -> CheckResult:
    """The vault's TLS key against the trusted pins (checked in the handshake, through the
    proxy if there is one), and its certificate's expiry."""
    name = "vault-tls"
    try:
        with client.stream("GET", "/api/v1/health") as response:
            certificate_der = _peer_certificate(response)
    except httpx.TransportError as exc:
        refused = untrusted_key(exc)
        if refused is not None:
            return fail(
                name,
                f"the vault at {url} presented the TLS key {refused.seen}, which this machine"
                f" does not trust (it trusts {', '.join(refused.trusted)})",
                "if IT replaced the vault's TLS key on purpose, IT adds that pin to the"
                " vault_tls_pins policy (and next time announces the key first: callreel-vault"
                " tls prepare-rotation); otherwise something between this machine and the vault"
                " intercepts the connection: tell IT",
            )
        return fail(
            name,
            f"the vault at {url} is unreachable: {exc}",
            "check the network, the proxy and that the vault is running; ask IT if it persists",
        )
    if certificate_der is None:
        return fail(name, f"{url} answered without TLS details", "tell IT")
    certificate = x509.load_der_x509_certificate(certificate_der)
    expires = certificate.not_valid_after_utc
    left = expires - datetime.datetime.now(datetime.UTC)
    if left < EXPIRY_WARNING:
        return warn(
            name,
            f"the vault's certificate expires on {expires:%Y-%m-%d} ({left.days} days)",
            "ask the vault's administrator to renew it (callreel-vault tls prepare-rotation,"
            " then rotate once every device has sent a heartbeat)",
        )
    return ok(
        name,
        f"the vault's TLS key {certificate_pin(certificate_der)} is trusted; its certificate"
        f" is valid until {expires:%Y-%m-%d}",
    )


def _check_api(client: httpx.Client, url: str, enrolment: _Enrolment) -> list[CheckResult]:
    results = []
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
    try:
        route = choose_proxy(config.vault_url, config.vault_proxy)
    except ProxyChoiceError as exc:
        return [fail("vault", str(exc), "set vault_proxy in the policy")]
    results = [ok("vault", f"vault {config.vault_url}, reached {route.describe()}")]
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
    pins = trusted_pins(enrolment.pins, config.vault_tls_pins)
    with vault_http_client(config.vault_url, pins, config.vault_proxy) as client:
        client.timeout = httpx.Timeout(TIMEOUT_S)
        tls = _check_tls(client, config.vault_url)
        results.append(tls)
        if tls.status != "fail":
            results += _check_api(client, config.vault_url, enrolment)
    return results
