"""Signed exports of the logs: verified against the vault's key, refused when anything in the
content, the signature or the key is changed, and never taken for a checkpoint's signature."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from protocol.keys import VaultIdentity
from vault.audit_checkpoints import sign as sign_checkpoint
from vault.signed_exports import (
    MAX_EXPORT_BYTES,
    ExportError,
    public_key_text,
    sign_export,
    verify_export,
)

IDENTITY = VaultIdentity.generate()
KEY = public_key_text(IDENTITY)
CONTENT: dict[str, Any] = {
    "kind": "access-log",
    "exported_by": "otto",
    "filters": {"who": "rob"},
    "records": [{"sequence": 0, "actor": "rob", "details": {"purpose": "training"}, "é": "ü"}],
}


def _edited(change: Any) -> bytes:
    document = json.loads(sign_export(IDENTITY, CONTENT))
    change(document)
    return json.dumps(document).encode()


def test_an_export_verifies_against_the_vaults_key_and_reads_as_json() -> None:
    data = sign_export(IDENTITY, CONTENT)
    assert verify_export(data, [KEY]) == CONTENT
    assert json.loads(data)["content"]["records"][0]["actor"] == "rob"  # readable as it is
    # Reformatting the file (an editor, a pretty-printer) does not break it: the content does.
    assert verify_export(json.dumps(json.loads(data)).encode(), [KEY]) == CONTENT


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["content"]["records"][0].update(actor="eve"), "changed after export"),
        (lambda d: d["content"]["records"].pop(), "changed after export"),
        (lambda d: d["content"].update(filters={}), "changed after export"),
        (lambda d: d["signature"].update(value=base64.b64encode(b"x" * 64).decode()), "changed"),
        (lambda d: d["signature"].update(value="not base64!"), "changed after export"),
        (lambda d: d["signature"].update(algorithm="RSA"), "algorithm"),
        (lambda d: d.update(format="something/2"), "not a callreel-signed-export/1"),
        (lambda d: d.pop("content"), "lacks its content"),
    ],
)
def test_any_change_is_refused_by_name(change: Any, message: str) -> None:
    with pytest.raises(ExportError, match=message):
        verify_export(_edited(change), [KEY])


def test_a_file_signed_by_another_key_is_refused_even_if_it_carries_that_key() -> None:
    forged = sign_export(VaultIdentity.generate(), CONTENT)
    with pytest.raises(ExportError, match="not one you trust"):
        verify_export(forged, [KEY])
    # Swapping in the trusted key's name does not help: the signature is then wrong.
    swapped = json.loads(forged)
    swapped["signature"]["public_key"] = KEY
    with pytest.raises(ExportError, match="changed after export"):
        verify_export(json.dumps(swapped).encode(), [KEY])


def test_a_checkpoint_signature_never_passes_for_an_export() -> None:
    checkpoint = sign_checkpoint(IDENTITY, 0, ["a" * 64], "2026-12-04T00:00:00+00:00")
    document = json.loads(sign_export(IDENTITY, CONTENT))
    raw = base64.urlsafe_b64decode(checkpoint.signature + "==")
    document["signature"]["value"] = base64.b64encode(raw).decode()
    with pytest.raises(ExportError, match="changed after export"):
        verify_export(json.dumps(document).encode(), [KEY])


@pytest.mark.parametrize(
    "data", [b"", b"\xff\xfe", b"[1, 2]", b"[" * 100_000 + b"]" * 100_000, b"x" * 10]
)
def test_garbage_is_refused_by_name(data: bytes) -> None:
    with pytest.raises(ExportError):
        verify_export(data, [KEY])


def test_an_oversized_file_is_refused_before_it_is_parsed() -> None:
    with pytest.raises(ExportError, match="over 256 MiB"):
        verify_export(b" " * (MAX_EXPORT_BYTES + 1), [KEY])
