"""The published request-signing vectors (tests/data/vectors/signing.json, specified in
docs/signing.md) hold: the canonical message and the headers are exactly the published ones,
a vault accepts the good requests, and refuses each bad one for the published reason."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from protocol.signing import (
    HEADER_NONCE,
    DeviceKey,
    RequestSignatureError,
    canonical_message,
    sign_request,
    verify_request,
)
from tests.helpers.data import REPO_ROOT, VECTORS

PUBLISHED = json.loads((VECTORS / "signing.json").read_text())
KEY = DeviceKey.from_text(PUBLISHED["device_key"])
DEVICE = uuid.UUID(PUBLISHED["device_id"])
GOOD = [v for v in PUBLISHED["vectors"] if v["expect"] == "ok"]
BAD = [v for v in PUBLISHED["vectors"] if v["expect"] != "ok"]


def _name(vector: dict[str, Any]) -> str:
    return str(vector["name"])


def test_the_published_key_is_the_published_public_key() -> None:
    assert KEY.public_text() == PUBLISHED["device_public_key"]


@pytest.mark.parametrize("vector", GOOD, ids=_name)
def test_a_good_request_signs_and_verifies_exactly_as_published(vector: dict[str, Any]) -> None:
    body = bytes.fromhex(vector["body_hex"])
    headers = vector["headers"]
    message = canonical_message(
        vector["method"],
        vector["path_and_query"],
        body,
        device_id=DEVICE,
        timestamp=int(headers["Callreel-Timestamp"]),
        nonce=headers[HEADER_NONCE],
    )
    assert message.decode("ascii") == vector["canonical_message"]
    signed = sign_request(
        KEY,
        DEVICE,
        vector["method"],
        vector["path_and_query"],
        body,
        now=vector["now"],
        nonce=headers[HEADER_NONCE],
    )
    assert signed == headers
    verified = verify_request(
        headers,
        vector["method"],
        vector["path_and_query"],
        body,
        public_key_text=PUBLISHED["device_public_key"],
        now=vector["now"],
        max_skew_seconds=PUBLISHED["max_skew_seconds"],
    )
    assert (verified.device_id, verified.nonce) == (DEVICE, headers[HEADER_NONCE])


@pytest.mark.parametrize("vector", BAD, ids=_name)
def test_a_bad_request_is_refused_for_the_published_reason(vector: dict[str, Any]) -> None:
    with pytest.raises(RequestSignatureError) as refused:
        verify_request(
            vector["headers"],
            vector["method"],
            vector["path_and_query"],
            bytes.fromhex(vector["body_hex"]),
            public_key_text=PUBLISHED["device_public_key"],
            now=vector["now"],
            max_skew_seconds=PUBLISHED["max_skew_seconds"],
        )
    assert refused.value.reason.value == vector["expect"]


def test_the_specification_shows_the_first_vector() -> None:
    spec = (REPO_ROOT / "docs" / "signing.md").read_text()
    first = GOOD[0]
    assert first["headers"]["Callreel-Signature"] in spec
    for line in first["canonical_message"].splitlines():
        assert line in spec
