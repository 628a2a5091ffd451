"""Signed device requests: round trip, every tampering refused, strict header parsing, key files."""

from __future__ import annotations

import base64
import re
import stat
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.keys import KeyFileError
from protocol.signing import (
    DEVICE_KEY_PREFIX,
    DEVICE_PUBLIC_PREFIX,
    HEADER_DEVICE,
    HEADER_NONCE,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    DeviceKey,
    DevicePublicKey,
    RequestSignatureError,
    SignatureFailure,
    VerifiedRequest,
    canonical_message,
    parse_device_id,
    sign_request,
    verify_request,
)

KEY = DeviceKey.generate()
DEVICE = uuid.UUID("6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b")
NOW = 1_760_000_000.75
NONCE = "0123456789abcdef0123456789abcdef"
METHOD = "POST"
TARGET = "/api/v1/segments?session=abc&part=2"
BODY = b'{"segment": 7}'


def _signed() -> dict[str, str]:
    return sign_request(KEY, DEVICE, METHOD, TARGET, BODY, now=NOW, nonce=NONCE)


def _verify(
    headers: dict[str, str],
    *,
    method: str = METHOD,
    target: str = TARGET,
    body: bytes = BODY,
    now: float = NOW,
    public_key_text: str | None = None,
) -> VerifiedRequest:
    return verify_request(
        headers,
        method,
        target,
        body,
        public_key_text=KEY.public_text() if public_key_text is None else public_key_text,
        now=now,
    )


def _reason(headers: dict[str, str], **kwargs: Any) -> SignatureFailure:
    with pytest.raises(RequestSignatureError) as caught:
        _verify(headers, **kwargs)
    return caught.value.reason


def test_signed_request_verifies() -> None:
    headers = _signed()
    assert headers == {
        HEADER_DEVICE: str(DEVICE),
        HEADER_TIMESTAMP: "1760000000",
        HEADER_NONCE: NONCE,
        HEADER_SIGNATURE: headers[HEADER_SIGNATURE],
    }
    assert len(headers[HEADER_SIGNATURE]) == 86
    assert _verify(headers) == VerifiedRequest(device_id=DEVICE, nonce=NONCE, timestamp=1760000000)
    assert parse_device_id(headers) == DEVICE


def test_random_nonce_is_fresh_hex() -> None:
    first = sign_request(KEY, DEVICE, "GET", "/", b"", now=NOW)
    second = sign_request(KEY, DEVICE, "GET", "/", b"", now=NOW)
    assert first[HEADER_NONCE] != second[HEADER_NONCE]
    assert len(first[HEADER_NONCE]) == 32
    int(first[HEADER_NONCE], 16)
    assert _verify(first, method="GET", target="/", body=b"").nonce == first[HEADER_NONCE]


def test_canonical_message_matches_the_specification() -> None:
    message = canonical_message(
        "post", "/a?b=c", b"xyz", device_id=DEVICE, timestamp=1760000000, nonce=NONCE
    )
    assert message == (
        b"callreel-request-v1\nPOST\n/a?b=c\n"
        + str(DEVICE).encode()
        + b"\n1760000000\n"
        + NONCE.encode()
        + b"\n3608bca1e44ea6c4d268eb6db02260269892c0b42b86bbf1e77a6fa16c3c9282"
    )
    # An empty query is not appended: "/a?" and "/a" are the same request.
    assert canonical_message(
        "GET", "/a?", b"", device_id=DEVICE, timestamp=1, nonce=NONCE
    ) == canonical_message("GET", "/a", b"", device_id=DEVICE, timestamp=1, nonce=NONCE)


def test_headers_are_found_case_insensitively_and_method_case_is_ignored() -> None:
    headers = {name.lower(): value for name, value in _signed().items()}
    assert _verify(headers, method="post").device_id == DEVICE
    upper = {name.upper(): value for name, value in _signed().items()}
    assert parse_device_id(upper) == DEVICE


def _flip_signature_byte(signature: str) -> str:
    raw = bytearray(base64.urlsafe_b64decode(signature + "=="))
    raw[10] ^= 0x01
    return base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")


@pytest.mark.parametrize(
    ("header_changes", "verify_changes"),
    [
        pytest.param({}, {"method": "PUT"}, id="method"),
        pytest.param({}, {"target": "/api/v1/segment?session=abc&part=2"}, id="path"),
        pytest.param({}, {"target": "/api/v1/segments?session=abc&part=3"}, id="query"),
        pytest.param({}, {"target": "/api/v1/segments"}, id="query-dropped"),
        pytest.param({}, {"body": b'{"segment": 8}'}, id="body"),
        pytest.param({}, {"body": b""}, id="body-emptied"),
        pytest.param({HEADER_DEVICE: "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4c"}, {}, id="device-id"),
        pytest.param({HEADER_TIMESTAMP: "1760000001"}, {}, id="timestamp"),
        pytest.param({HEADER_NONCE: "1123456789abcdef0123456789abcdef"}, {}, id="nonce"),
        pytest.param({HEADER_SIGNATURE: "flip"}, {}, id="signature-byte"),
    ],
)
def test_any_tampering_is_a_bad_signature(
    header_changes: dict[str, str], verify_changes: dict[str, Any]
) -> None:
    headers = _signed()
    for name, value in header_changes.items():
        headers[name] = (
            _flip_signature_byte(headers[HEADER_SIGNATURE]) if value == "flip" else value
        )
    assert _reason(headers, **verify_changes) is SignatureFailure.BAD_SIGNATURE


def test_another_devices_key_is_a_bad_signature() -> None:
    other = DeviceKey.generate()
    with pytest.raises(RequestSignatureError, match="does not verify") as caught:
        _verify(_signed(), public_key_text=other.public_text())
    assert caught.value.reason is SignatureFailure.BAD_SIGNATURE


@pytest.mark.parametrize(
    ("now", "ok"),
    [
        (NOW - 0.75 + 300, True),  # the edge of the window, either side
        (NOW - 0.75 - 300, True),
        (NOW - 0.75 + 301, False),  # request signed too long ago (stale)
        (NOW - 0.75 - 301, False),  # request from the future (clock ahead)
        (NOW + 86_400, False),
    ],
)
def test_timestamps_outside_the_skew_window_are_stale(now: float, ok: bool) -> None:
    headers = _signed()
    if ok:
        assert _verify(headers, now=now).timestamp == 1760000000
    else:
        with pytest.raises(RequestSignatureError, match="clock") as caught:
            _verify(headers, now=now)
        assert caught.value.reason is SignatureFailure.STALE


def test_stale_message_says_which_way_the_clock_is_off() -> None:
    with pytest.raises(RequestSignatureError, match="ahead of the vault's clock"):
        _verify(_signed(), now=NOW - 1000)
    with pytest.raises(RequestSignatureError, match="behind the vault's clock"):
        _verify(_signed(), now=NOW + 1000)


def test_custom_skew_window() -> None:
    headers = _signed()
    with pytest.raises(RequestSignatureError) as caught:
        verify_request(
            headers, METHOD, TARGET, BODY,
            public_key_text=KEY.public_text(), now=NOW + 31, max_skew_seconds=30,
        )  # fmt: skip
    assert caught.value.reason is SignatureFailure.STALE


@pytest.mark.parametrize(
    "missing", [HEADER_DEVICE, HEADER_TIMESTAMP, HEADER_NONCE, HEADER_SIGNATURE]
)
def test_each_missing_header_is_named(missing: str) -> None:
    headers = _signed()
    del headers[missing]
    with pytest.raises(RequestSignatureError, match=missing) as caught:
        _verify(headers)
    assert caught.value.reason is SignatureFailure.MISSING_HEADER


def test_no_headers_at_all() -> None:
    assert _reason({"Content-Type": "application/json"}) is SignatureFailure.MISSING_HEADER
    with pytest.raises(RequestSignatureError) as caught:
        parse_device_id({})
    assert caught.value.reason is SignatureFailure.MISSING_HEADER


VALID_SIGNATURE = _signed()[HEADER_SIGNATURE]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        (HEADER_DEVICE, ""),
        (HEADER_DEVICE, "6F1C2A3B-4D5E-4F60-8A7B-9C0D1E2F3A4B"),  # upper case
        (HEADER_DEVICE, "6f1c2a3b4d5e4f608a7b9c0d1e2f3a4b"),  # no hyphens
        (HEADER_DEVICE, "{6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b}"),
        (HEADER_DEVICE, "urn:uuid:6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"),
        (HEADER_DEVICE, "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b\n"),
        (HEADER_DEVICE, " 6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"),
        (HEADER_DEVICE, "x" * 10_000),
        (HEADER_TIMESTAMP, ""),
        (HEADER_TIMESTAMP, "-1760000000"),
        (HEADER_TIMESTAMP, "+1760000000"),
        (HEADER_TIMESTAMP, "01760000000"),
        (HEADER_TIMESTAMP, "1760000000.5"),
        (HEADER_TIMESTAMP, "1760000000\n"),
        (HEADER_TIMESTAMP, "1_760_000_000"),
        (HEADER_TIMESTAMP, "\u0661\u0667\u0666\u0660"),  # Arabic-Indic digits: int() takes them
        (HEADER_TIMESTAMP, "9" * 13),
        (HEADER_TIMESTAMP, "1e9"),
        (HEADER_NONCE, ""),
        (HEADER_NONCE, NONCE[:-1]),
        (HEADER_NONCE, NONCE + "0"),
        (HEADER_NONCE, NONCE.upper()),
        (HEADER_NONCE, "g" * 32),
        (HEADER_NONCE, NONCE[:-1] + "\n"),
        (HEADER_SIGNATURE, ""),
        (HEADER_SIGNATURE, VALID_SIGNATURE[:-1]),
        (HEADER_SIGNATURE, VALID_SIGNATURE + "A"),
        (HEADER_SIGNATURE, VALID_SIGNATURE + "=="),  # padding is not allowed
        (HEADER_SIGNATURE, VALID_SIGNATURE.replace(VALID_SIGNATURE[5], "+", 1)),
        (HEADER_SIGNATURE, "!" * 86),
        (HEADER_SIGNATURE, "A" * 100_000),
    ],
)
def test_malformed_headers_are_refused(name: str, value: str) -> None:
    headers = _signed()
    headers[name] = value
    with pytest.raises(RequestSignatureError, match=name) as caught:
        _verify(headers)
    assert caught.value.reason is SignatureFailure.MALFORMED
    assert len(str(caught.value)) < 400  # a huge header is not echoed back


def test_non_canonical_signature_encoding_is_malformed() -> None:
    # 86 characters carry 516 bits for 512: the last character's 4 spare bits must be zero.
    headers = _signed()
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(headers[HEADER_SIGNATURE][-1])
    headers[HEADER_SIGNATURE] = headers[HEADER_SIGNATURE][:-1] + alphabet[last | 0b0001]
    with pytest.raises(RequestSignatureError, match="canonical") as caught:
        _verify(headers)
    assert caught.value.reason is SignatureFailure.MALFORMED


def test_repeated_header_is_malformed() -> None:
    headers = _signed()
    headers[HEADER_NONCE.lower()] = NONCE  # same header twice, differing only in case
    with pytest.raises(RequestSignatureError, match="more than once") as caught:
        _verify(headers)
    assert caught.value.reason is SignatureFailure.MALFORMED


@pytest.mark.parametrize(
    ("method", "target"),
    [
        ("PO ST", TARGET),
        ("POST\n", TARGET),
        ("", TARGET),
        (METHOD, "api/v1/segments"),
        (METHOD, "/api/v1/seg ments"),
        (METHOD, "/api/v1/segments\n"),
        (METHOD, "/caf\u00e9"),
        (METHOD, "/" + "a" * 9000),
    ],
)
def test_malformed_method_or_target(method: str, target: str) -> None:
    assert _reason(_signed(), method=method, target=target) is SignatureFailure.MALFORMED
    with pytest.raises(ValueError, match=r"method|target"):
        sign_request(KEY, DEVICE, method, target, BODY, now=NOW)


def test_sign_request_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError, match="nonce"):
        sign_request(KEY, DEVICE, "GET", "/", b"", now=NOW, nonce="abc")
    with pytest.raises(ValueError, match="now"):
        sign_request(KEY, DEVICE, "GET", "/", b"", now=float("nan"))
    with pytest.raises(ValueError, match="now"):
        sign_request(KEY, DEVICE, "GET", "/", b"", now=-1.0)


def test_bad_stored_public_key_is_the_vaults_problem() -> None:
    with pytest.raises(KeyFileError, match="must start with"):
        _verify(_signed(), public_key_text="ssh-ed25519 AAAA")
    with pytest.raises(KeyFileError, match="private device key"):
        _verify(_signed(), public_key_text=KEY.to_text())


@given(data=st.data(), body=st.binary(min_size=1, max_size=512))
@settings(max_examples=200, deadline=None)
def test_any_single_byte_body_change_fails(data: st.DataObject, body: bytes) -> None:
    headers = sign_request(KEY, DEVICE, METHOD, TARGET, body, now=NOW, nonce=NONCE)
    assert _verify(headers, body=body).device_id == DEVICE
    index = data.draw(st.integers(min_value=0, max_value=len(body) - 1), label="index")
    replacement = data.draw(
        st.integers(min_value=0, max_value=255).filter(lambda byte: byte != body[index]),
        label="replacement",
    )
    changed = body[:index] + bytes([replacement]) + body[index + 1 :]
    assert _reason(headers, body=changed) is SignatureFailure.BAD_SIGNATURE


def test_key_text_round_trip() -> None:
    key = DeviceKey.generate()
    assert key.to_text().startswith(DEVICE_KEY_PREFIX)
    assert key.public_text().startswith(DEVICE_PUBLIC_PREFIX)
    assert "=" not in key.to_text() + key.public_text()
    assert DeviceKey.from_text(key.to_text()) == key
    assert DevicePublicKey.from_text(key.public_text()) == key.public
    assert key.raw.hex() not in repr(key)
    assert key.to_text() not in repr(key)


def test_key_file_round_trip(tmp_path: Path) -> None:
    key = DeviceKey.generate()
    path = tmp_path / "agent" / "device.key"
    key.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().count(DEVICE_KEY_PREFIX) == 1
    assert key.public_text() in path.read_text()  # as a comment, for the operator
    loaded = DeviceKey.load(path)
    assert loaded == key
    headers = sign_request(loaded, DEVICE, "GET", "/", b"", now=NOW)
    assert _verify(headers, method="GET", target="/", body=b"", public_key_text=key.public_text())
    assert [p.name for p in path.parent.iterdir()] == ["device.key"]  # no temp file left


def test_existing_key_is_not_overwritten_by_default(tmp_path: Path) -> None:
    path = tmp_path / "device.key"
    first = DeviceKey.generate()
    first.save(path)
    with pytest.raises(KeyFileError, match="refusing to overwrite"):
        DeviceKey.generate().save(path)
    assert DeviceKey.load(path) == first
    second = DeviceKey.generate()
    second.save(path, overwrite=True)
    assert DeviceKey.load(path) == second


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o610])
def test_key_file_accessible_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "device.key"
    DeviceKey.generate().save(path)
    path.chmod(mode)
    with pytest.raises(KeyFileError, match=re.escape(f"chmod 600 {path}")):
        DeviceKey.load(path)


def test_missing_or_garbled_key_file(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="cannot read device key"):
        DeviceKey.load(tmp_path / "absent.key")
    path = tmp_path / "device.key"
    path.write_text(f"{DEVICE_KEY_PREFIX}!!!!\n")
    path.chmod(0o600)
    with pytest.raises(KeyFileError, match="base64url"):
        DeviceKey.load(path)
    path.write_text(f"{DEVICE_KEY_PREFIX}AAAA\n")
    with pytest.raises(KeyFileError, match="must be 32 bytes"):
        DeviceKey.load(path)
    path.write_text(DeviceKey.generate().public_text() + "\n")
    with pytest.raises(KeyFileError, match="public device key"):
        DeviceKey.load(path)
