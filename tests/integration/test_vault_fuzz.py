"""Schemathesis fuzzing of the vault's whole OpenAPI description, fetched from the running
server and sent to it over real HTTPS: no generated request, valid or not, may get a 5xx (or
break the connection), and every documented response must match its schema.

Four passes over every operation: unauthenticated, as an enrolled device that signs each request
it sends, as a trainer and as an administrator (bearer tokens), so the fuzzer gets past
authentication into the handlers. Real data is seeded first (a session, an uploaded recording, a
playback ticket, a release request, a spare device) and about half of the generated path
parameters are swapped for those real identifiers, so handlers run on rows that exist, not only
into 404s. Nothing is excluded: the segment upload takes application/octet-stream, so it gets
random bytes, which must be refused with a 4xx like any other bad input.

Only the `not_a_server_error` and `response_schema_conformance` checks run. Schemathesis's other
default checks fail for reasons that are not bugs: the 400/401/403/404/409/410/413 error bodies
are not declared in the description (FastAPI documents only 200/201 and 422), a schema-valid
request with, say, an unknown enrolment token is rightly refused, and Starlette's 405 for an
undeclared method lists only one route's methods in `Allow`.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from agent.vault_connection.client import DeviceClient, enrol
from protocol.signing import DeviceKey, sign_request
from tests.helpers.vault_harness import VaultUnderTest, running_vault, upload_recording
from vault import accounts, devices
from vault.roles import Role
from vault.tls import ensure_certificate

# Deterministic, no example database written into the repository, no per-example deadline (each
# example is a TLS round trip to a server writing SQLite). The health checks about slow or
# heavily filtered generation do not apply to a fuzzer whose cost is the server round trip.
# Besides max_examples of fuzzing, schemathesis adds its coverage-phase cases (boundary values,
# missing and wrong-typed parameters, unexpected methods): about 1,300 requests per identity.
FUZZ_SETTINGS = settings(
    max_examples=25,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

# Case is generic over an APIOperation of four type parameters; the tests use none of them.
FuzzCase = schemathesis.Case[Any]
AGENT_PREFIX = "/api/v1/agent/"
ENROL_PATH = "/api/v1/agent/enrol"  # unsigned: the one-time enrolment token is the credential


class BearerAuth(requests.auth.AuthBase):
    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request


class NoAuth(requests.auth.AuthBase):
    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        return request


class DeviceSigningAuth(requests.auth.AuthBase):
    """Signs each request as it goes on the wire. requests applies auth after preparing the URL
    and the body, so `path_url` is the encoded path and query that is sent and `body` the final
    bytes. Every call, a resend included, signs with a fresh random nonce."""

    def __init__(self, key: DeviceKey, device_id: uuid.UUID, vault: VaultUnderTest) -> None:
        self.key = key
        self.device_id = device_id
        self.vault = vault

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body
        if body is None:
            raw = b""
        elif isinstance(body, bytes):
            raw = body
        elif isinstance(body, str):
            raw = body.encode("latin-1")  # what http.client sends for a str body
        else:
            raise TypeError(f"cannot sign a streamed body ({type(body).__name__})")
        assert request.method is not None
        request.headers.update(
            sign_request(
                self.key,
                self.device_id,
                request.method,
                request.path_url,
                raw,
                # The vault's clock is the harness's settable one, not the wall clock.
                now=self.vault.ctx.clock().timestamp(),
            )
        )
        return request


@dataclass
class Identity:
    name: str
    session: requests.Session
    answers: Counter[tuple[str, int]] = field(default_factory=Counter)
    """(operation, status) -> how many generated requests got that answer."""


@dataclass
class FuzzVault:
    vault: VaultUnderTest
    cert_path: Path
    identities: dict[str, Identity]
    real_path_values: dict[str, str]


def _identity(name: str, auth: requests.auth.AuthBase, cert_path: Path) -> Identity:
    session = requests.Session()
    session.auth = auth
    session.verify = str(cert_path)
    return Identity(name, session)


def _enrol(vault: VaultUnderTest, hostname: str) -> tuple[DeviceKey, uuid.UUID]:
    key = DeviceKey.generate()
    token = devices.issue_enrol_token(vault.ctx.engine, "alice", by="test", now=vault.ctx.clock())
    return key, enrol(vault.client, token, key, hostname).device_id


@pytest.fixture(scope="module")
def fuzz_vault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzVault]:
    root = tmp_path_factory.mktemp("vault-fuzz")
    with running_vault(root) as vault:
        cert_path = ensure_certificate(root / "tls").cert_path  # the files the vault serves
        vault.add_person("tina", Role.TRAINER)
        vault.add_person("alice", Role.AGENT)
        vault.add_person("max", Role.ADMINISTRATOR)

        # The device the fuzzer signs as, enrolled here so the test holds its key, and a spare
        # whose id the fuzzer may use (to revoke it, say) without locking itself out.
        key, device_id = _enrol(vault, "agent-pc-fuzz")
        _, spare_id = _enrol(vault, "agent-pc-spare")
        device = DeviceClient(
            vault.client, device_id, key, clock=lambda: vault.ctx.clock().timestamp()
        )
        session_id = vault.start_session("tina", "alice", calls=5)
        recording = upload_recording(vault, device, session_id)
        playback = vault.client.post(
            f"/api/v1/recordings/{recording.recording_id}/playback",
            headers=vault.as_user("tina"),
            json={"purpose": "training"},
        )
        assert playback.status_code == 201, playback.text
        release = vault.client.post(
            f"/api/v1/recordings/{recording.recording_id}/releases",
            headers=vault.as_user("tina"),
            json={"purpose": "training", "recipient": "legal", "reason": "fuzz seed"},
        )
        assert release.status_code == 201, release.text

        identities = [
            _identity("anonymous", NoAuth(), cert_path),
            _identity("device", DeviceSigningAuth(key, device_id, vault), cert_path),
            _identity("trainer", BearerAuth(vault.tokens["tina"]), cert_path),
            _identity("administrator", BearerAuth(vault.tokens["max"]), cert_path),
        ]
        real = {
            "recording_id": str(recording.recording_id),
            "session_id": str(session_id),
            "release_id": release.json()["release_id"],
            "ticket": playback.json()["url"].rsplit("/", 1)[1],
            "username": "alice",
            "device_id": str(spare_id),
            "sha256": recording.segments[0][0],
        }
        try:
            yield FuzzVault(vault, cert_path, {i.name: i for i in identities}, real)
        finally:
            for identity in identities:
                identity.session.close()


@pytest.fixture(scope="module")
def vault_schema(fuzz_vault: FuzzVault) -> schemathesis.BaseSchema:
    base_url = str(fuzz_vault.vault.client.base_url).rstrip("/")
    cert = str(fuzz_vault.cert_path)
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json", verify=cert)
    schema.config.update(base_url=base_url, tls_verify=cert)
    real = fuzz_vault.real_path_values

    @schema.hook
    def flatmap_path_parameters(
        _context: schemathesis.HookContext, path_parameters: dict[str, Any] | None
    ) -> SearchStrategy[dict[str, Any] | None]:
        if not path_parameters or not real.keys() & path_parameters.keys():
            return st.just(path_parameters)
        swapped = {name: real.get(name, value) for name, value in path_parameters.items()}
        return st.sampled_from([path_parameters, swapped])

    return schema


schema = schemathesis.pytest.from_fixture("vault_schema")


@pytest.fixture(autouse=True)
def _lazy_schema_node_id(request: pytest.FixtureRequest) -> None:
    """schemathesis 4.32's `from_fixture` runner reads and rewrites `node._nodeid` (to name
    the operation in reports), an attribute pytest 9.2 no longer has: give it one."""
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


PEOPLE = {"trainer": "tina", "administrator": "max"}
SIGN_OUT = "POST /api/v1/logout"


def _fuzz(case: FuzzCase, fuzz_vault: FuzzVault, identity: str) -> None:
    who = fuzz_vault.identities[identity]
    response = case.call(session=who.session)
    who.answers[case.operation.label, response.status_code] += 1
    if case.operation.label == SIGN_OUT and response.status_code == 200:
        # The pass signed itself out, as it may: it signs in again to go on fuzzing.
        vault = fuzz_vault.vault
        who.session.auth = BearerAuth(
            accounts.issue_token(
                vault.ctx.engine,
                PEOPLE[identity],
                now=vault.ctx.clock(),
                label="fuzz",
                lifetime=timedelta(days=1),
                by="test",
            )
        )
    case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])
    if identity == "device" and case.path.startswith(AGENT_PREFIX) and case.path != ENROL_PATH:
        # A refused signature would mean the pass never got past authentication.
        assert "device request refused" not in response.text, (
            case.as_curl_command(),
            response.text,
        )


# In this order: the administrator's pass shreds the seeded recording, ends the session and
# revokes the spare device, so it runs last to leave the others real data to work on.


@schema.parametrize()
@FUZZ_SETTINGS
def test_fuzz_unauthenticated(case: FuzzCase, fuzz_vault: FuzzVault) -> None:
    _fuzz(case, fuzz_vault, "anonymous")


@schema.parametrize()
@FUZZ_SETTINGS
def test_fuzz_as_device(case: FuzzCase, fuzz_vault: FuzzVault) -> None:
    _fuzz(case, fuzz_vault, "device")


@schema.parametrize()
@FUZZ_SETTINGS
def test_fuzz_as_trainer(case: FuzzCase, fuzz_vault: FuzzVault) -> None:
    _fuzz(case, fuzz_vault, "trainer")


@schema.parametrize()
@FUZZ_SETTINGS
def test_fuzz_as_administrator(case: FuzzCase, fuzz_vault: FuzzVault) -> None:
    _fuzz(case, fuzz_vault, "administrator")


def _succeeded(identity: Identity) -> set[str]:
    return {operation for (operation, status), _ in identity.answers.items() if status < 300}


def test_the_passes_got_past_authentication(fuzz_vault: FuzzVault) -> None:
    """Each pass that ran reached its handlers, and the anonymous one only the health check."""
    ran = {name: i for name, i in fuzz_vault.identities.items() if i.answers}
    if not ran:
        pytest.skip("no fuzzing pass ran in this session")
    for identity in ran.values():
        print(f"{identity.name}: {identity.answers.total()} requests")
    expected = {
        "anonymous": ({"GET /api/v1/health"}, True),
        "device": ({"GET /api/v1/agent/sessions", "POST /api/v1/agent/heartbeat"}, False),
        "trainer": ({"GET /api/v1/me", "GET /api/v1/playback/{ticket}"}, False),
        "administrator": (
            {"GET /api/v1/me", "POST /api/v1/recordings/{recording_id}/delete"},
            False,
        ),
    }
    for name, identity in ran.items():
        operations, exactly = expected[name]
        succeeded = _succeeded(identity)
        if exactly:
            assert succeeded == operations, name
        else:
            assert operations <= succeeded, (name, sorted(succeeded))
