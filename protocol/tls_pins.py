"""Pins of the vault's TLS key: the base64 SHA-256 of a certificate's SubjectPublicKeyInfo
(RFC 7469's pin-sha256), their syntax, and which few an agent keeps.

A pin names the key, not the certificate, so the vault may reissue its certificate for the
same key freely, and a new key is trusted once the vault has announced its pin. Nothing here
loads cryptography: the agent's settings check the policy's pins with it, and the settings
readers run under Wine (docs/design.md).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence

PIN_DIGEST_BYTES = 32
PIN_TEXT_LENGTH = 44
"""len(base64 of 32 bytes), with its one '=' of padding."""
MAX_KEPT_PINS = 4
"""An agent keeps the vault's current key, its announced next one and a couple before them
(several vault processes restarted one at a time serve old and new together for a while);
older ones fall off, so a key retired long ago is not trusted for ever."""
MAX_ANNOUNCED_PINS = 4
"""A heartbeat answer naming more is not believed (a vault names its current and next key)."""
HOW_TO_COMPUTE = (
    "openssl x509 -in vault-tls.crt -pubkey -noout | openssl pkey -pubin -outform der"
    " | openssl dgst -sha256 -binary | base64"
)


class TlsPinError(ValueError):
    """Text that is not a pin, or too many of them; the message says what a pin looks like."""


def pin_problem(text: object) -> str | None:
    """Why `text` is not a pin (base64 of a 32-byte SHA-256, 44 characters), or None."""
    if not isinstance(text, str):
        return "is not text"
    if len(text) != PIN_TEXT_LENGTH:
        return (
            f"is {len(text)} characters long, not {PIN_TEXT_LENGTH} (base64 of a SHA-256 of"
            f" the vault key's SubjectPublicKeyInfo, such as `callreel-vault tls status` or"
            f" `{HOW_TO_COMPUTE}` prints)"
        )
    try:
        digest = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return f"is not base64 (a pin is what `{HOW_TO_COMPUTE}` prints)"
    if len(digest) != PIN_DIGEST_BYTES or base64.b64encode(digest).decode() != text:
        return f"is not the base64 of {PIN_DIGEST_BYTES} bytes (a SHA-256)"
    return None


def parse_pin(text: object) -> str:
    problem = pin_problem(text)
    if problem is not None:
        shown = repr(text)[:60] if isinstance(text, str) else type(text).__name__
        raise TlsPinError(f"TLS key pin {shown} {problem}")
    return str(text)


def parse_pins(texts: Sequence[object], limit: int) -> tuple[str, ...]:
    """Each a pin, at most `limit` of them, duplicates dropped (first kept)."""
    if isinstance(texts, str | bytes) or len(texts) > limit:
        raise TlsPinError(f"expected a list of at most {limit} TLS key pins")
    return tuple(dict.fromkeys(parse_pin(text) for text in texts))


def pin_of_public_key_info(spki_der: bytes) -> str:
    """The pin of a DER SubjectPublicKeyInfo."""
    return base64.b64encode(hashlib.sha256(spki_der).digest()).decode()


def remember_pins(
    kept: Sequence[str], announced: Sequence[str], limit: int = MAX_KEPT_PINS
) -> tuple[str, ...]:
    """What an agent keeps after the vault announced `announced`: those first (the vault names
    its current key and its next), then the ones kept before, most recently announced first,
    at most `limit` in all."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    return tuple(dict.fromkeys([*announced, *kept]))[:limit]
