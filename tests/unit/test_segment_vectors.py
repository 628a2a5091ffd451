"""The published vectors in tests/data/vectors/ (see docs/format.md) still hold."""

from __future__ import annotations

import hashlib
import io
import json
import uuid
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from protocol.keys import VaultIdentity
from protocol.segments.format import (
    HEADER_LEN,
    TAG_LEN,
    SegmentError,
    chunk_nonce,
    header_mac,
    parse_header,
    payload_key,
)
from protocol.segments.unseal import decrypt_payload, open_segment, unseal_data_key
from tests.data.vectors.make_vectors import pattern
from tests.helpers.data import VECTORS

MANIFEST = json.loads((VECTORS / "vectors.json").read_text())
OK = [v for v in MANIFEST["vectors"] if v["expect"] == "ok"]
BAD = [v for v in MANIFEST["vectors"] if v["expect"] == "error"]


@pytest.fixture(scope="module")
def identity() -> VaultIdentity:
    return VaultIdentity.from_text((VECTORS / MANIFEST["identity"]).read_text())


def _vector_id(vector: dict[str, Any]) -> str:
    return f"{vector['name']}-{vector.get('kind', 'ok')}"


def test_manifest_covers_every_vector_file() -> None:
    named = {v["name"] for v in MANIFEST["vectors"]}
    on_disk = {p.stem for p in VECTORS.glob("*.seg")}
    assert named == on_disk
    assert len(BAD) >= 15


@pytest.mark.parametrize("vector", OK, ids=_vector_id)
def test_valid_vector_opens_to_its_plaintext(
    identity: VaultIdentity, vector: dict[str, Any]
) -> None:
    sealed = (VECTORS / f"{vector['name']}.seg").read_bytes()
    header, plaintext = open_segment(identity, sealed)
    assert header.recording_id == uuid.UUID(vector["recording_id"])
    assert header.segment_index == vector["segment_index"]
    assert header.media_type.label == vector["media_type"]
    assert len(plaintext) == vector["plaintext_length"]
    assert hashlib.sha256(plaintext).hexdigest() == vector["plaintext_sha256"]
    assert plaintext == pattern(vector["plaintext_length"])


@pytest.mark.parametrize("vector", OK, ids=_vector_id)
def test_key_schedule_is_reproducible_from_the_data_key(
    identity: VaultIdentity, vector: dict[str, Any]
) -> None:
    """MAC and payload follow from data_key and salt alone: checks everything but HPKE."""
    sealed = (VECTORS / f"{vector['name']}.seg").read_bytes()
    header = parse_header(sealed)
    data_key = bytes.fromhex(vector["data_key"])
    assert unseal_data_key(identity, header) == data_key
    assert header.payload_salt.hex() == vector["payload_salt"]
    assert header_mac(data_key, header.authenticated_bytes()) == header.mac
    cipher = AESGCM(payload_key(data_key, header))
    plaintext = pattern(vector["plaintext_length"])
    size = header.chunk_size
    count = max(1, -(-len(plaintext) // size))
    expected = b"".join(
        cipher.encrypt(chunk_nonce(i, i == count - 1), plaintext[i * size : (i + 1) * size], None)
        for i in range(count)
    )
    assert sealed[HEADER_LEN:] == expected
    assert len(sealed) == HEADER_LEN + len(plaintext) + count * TAG_LEN


@pytest.mark.parametrize("vector", BAD, ids=_vector_id)
def test_invalid_vector_is_refused_with_its_kind(
    identity: VaultIdentity, vector: dict[str, Any]
) -> None:
    sealed = (VECTORS / f"{vector['name']}.seg").read_bytes()
    expect_recording = vector.get("expect_recording")
    with pytest.raises(SegmentError) as caught:
        open_segment(
            identity,
            sealed,
            expect_recording=uuid.UUID(expect_recording) if expect_recording else None,
        )
    assert caught.value.kind == vector["kind"], str(caught.value)
    assert str(caught.value)


def test_refused_vector_writes_no_plaintext_past_the_failing_chunk(identity: VaultIdentity) -> None:
    """Chunks before a tampered one are authentic; nothing after it is released."""
    sealed = (VECTORS / "truncated-final-chunk-dropped.seg").read_bytes()
    sink = io.BytesIO()
    header = parse_header(sealed)
    data_key = unseal_data_key(identity, header)
    with pytest.raises(SegmentError):
        decrypt_payload(data_key, header, io.BytesIO(sealed[HEADER_LEN:]), sink)
    assert sink.getvalue() == pattern(2500)[: header.chunk_size]
