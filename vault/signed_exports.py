"""Signed JSON exports of the access log and the release log, which a data-protection officer
keeps and verifies later, with or without the vault (docs/console.md, "Signed exports").

The file is readable JSON: `content` (what was exported, by whom, when, with which filters)
and `signature`, Ed25519 by the vault's signing key (the one that signs the access log's
checkpoints) over a fixed prefix and the content's canonical form: keys sorted, no spaces,
UTF-8 (RFC 8785 for content like this, which holds no fractional numbers). The prefix keeps
an export's signature from ever passing for a checkpoint's, and the reverse.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519

from protocol.keys import VaultIdentity
from vault.audit_checkpoints import signing_key

EXPORT_FORMAT = "callreel-signed-export/1"
SIGNED_PREFIX = b"callreel signed export v1\n"
MAX_EXPORT_BYTES = 256 * 1024 * 1024
"""Far above any real log export; a larger file is refused before it is parsed."""


class ExportError(ValueError):
    """The file is not a signed export this vault (or the given key) vouches for; the message
    says which check failed."""


def canonical(content: dict[str, Any]) -> bytes:
    return json.dumps(
        content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def public_key_text(identity: VaultIdentity) -> str:
    """The key a verifier pins: base64 of the raw 32-byte Ed25519 public key."""
    raw = signing_key(identity).public_key().public_bytes_raw()
    return base64.b64encode(raw).decode()


def sign_export(identity: VaultIdentity, content: dict[str, Any]) -> bytes:
    signature = signing_key(identity).sign(SIGNED_PREFIX + canonical(content))
    document = {
        "format": EXPORT_FORMAT,
        "content": content,
        "signature": {
            "algorithm": "Ed25519",
            "public_key": public_key_text(identity),
            "value": base64.b64encode(signature).decode(),
        },
    }
    return json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False).encode() + b"\n"


def verify_export(data: bytes, trusted_keys: Iterable[str]) -> dict[str, Any]:
    """The export's content, if a key in `trusted_keys` (base64 raw public keys) signed it."""
    if len(data) > MAX_EXPORT_BYTES:
        raise ExportError(f"the file is over {MAX_EXPORT_BYTES // 2**20} MiB: not an export")
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ExportError(f"the file is not JSON: {exc}") from None
    if not isinstance(document, dict) or document.get("format") != EXPORT_FORMAT:
        raise ExportError(f"the file is not a {EXPORT_FORMAT} file")
    content, signature = document.get("content"), document.get("signature")
    if not isinstance(content, dict) or not isinstance(signature, dict):
        raise ExportError("the file lacks its content or its signature")
    if signature.get("algorithm") != "Ed25519":
        raise ExportError(f"unknown signature algorithm {signature.get('algorithm')!r}")
    signer = signature.get("public_key")
    if signer not in set(trusted_keys):
        raise ExportError(
            f"signed by key {signer!r}, which is not one you trust: run this on the vault, or"
            " pass the key recorded when the export was made (--public-key)"
        )
    try:
        key = ed25519.Ed25519PublicKey.from_public_bytes(base64.b64decode(str(signer)))
        key.verify(base64.b64decode(str(signature.get("value")), validate=True),
                   SIGNED_PREFIX + canonical(content))  # fmt: skip
    except (binascii.Error, ValueError, InvalidSignature):
        raise ExportError(
            "the signature does not match the content: the file was changed after export"
        ) from None
    return content
