"""Signed requests from enrolled agent devices to the vault.

Each enrolled device holds an Ed25519 private key (`DeviceKey`); the vault stores the matching
public key text (`callreel-device-pub-1:...`). Every request after enrolment carries four
headers, and the signature covers one canonical string (see `canonical_message`):

    Callreel-Device:    the device's UUID, canonical lower-case hyphenated form
    Callreel-Timestamp: integer unix seconds when the request was signed
    Callreel-Nonce:     32 lower-case hex characters, random per request
    Callreel-Signature: base64url (no padding) of the 64-byte Ed25519 signature

This module is pure: no HTTP library and no clock of its own (callers pass `now`). The
replay check (has this device used this nonce within the skew window?) needs the vault's
database, so `verify_request` leaves it to the caller.

`path_and_query` is the request target exactly as sent on the wire: the percent-encoded
path, then `?` and the raw query string if the query is non-empty. With httpx that is
`request.url.raw_path`; in an ASGI server it is `scope["raw_path"]` plus
`b"?" + scope["query_string"]` when the query string is non-empty (not the decoded
`scope["path"]`, which would make differently encoded paths sign alike).
"""

from __future__ import annotations

import base64
import enum
import hashlib
import math
import re
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519

from protocol.atomic_files import atomic_output
from protocol.keys import (
    KeyFileError,
    b64url_decode,
    b64url_encode,
    key_line,
    read_private_text,
)

DEVICE_KEY_PREFIX = "callreel-device-key-1:"
DEVICE_PUBLIC_PREFIX = "callreel-device-pub-1:"
ED25519_KEY_LEN = 32
ED25519_SIGNATURE_LEN = 64

HEADER_DEVICE = "Callreel-Device"
HEADER_TIMESTAMP = "Callreel-Timestamp"
HEADER_NONCE = "Callreel-Nonce"
HEADER_SIGNATURE = "Callreel-Signature"
SIGNED_HEADERS = (HEADER_DEVICE, HEADER_TIMESTAMP, HEADER_NONCE, HEADER_SIGNATURE)

CANONICAL_PREFIX = "callreel-request-v1"
DEFAULT_MAX_SKEW_SECONDS = 300
MAX_TARGET_LEN = 8192
MAX_TIMESTAMP = 10**12 - 1  # 12 digits: far beyond any real clock, bounded for parsing

# fullmatch with explicit ASCII classes: str.isdigit() and \d would accept other scripts' digits.
_DEVICE_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_TIMESTAMP_RE = re.compile(r"0|[1-9][0-9]{0,11}")
_NONCE_RE = re.compile(r"[0-9a-f]{32}")
_DIGEST_RE = re.compile(r"[0-9a-f]{64}")
_SIGNATURE_B64_LEN = 86  # ceil(64 * 4 / 3), unpadded
_SIGNATURE_RE = re.compile(r"[A-Za-z0-9_-]{86}")
_METHOD_RE = re.compile(r"[A-Za-z]{1,20}")
# Printable ASCII without space: the target as sent on the wire (non-ASCII is %-encoded).
_TARGET_RE = re.compile(r"/[\x21-\x7e]*")


class SignatureFailure(enum.StrEnum):
    """Why a request's signature was refused; the vault maps these to its error responses."""

    MISSING_HEADER = "missing_header"
    MALFORMED = "malformed"
    STALE = "stale"
    BAD_SIGNATURE = "bad_signature"


class RequestSignatureError(Exception):
    """A request failed signature verification; `reason` says how, the message says why."""

    def __init__(self, reason: SignatureFailure, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message

    def __reduce__(self) -> tuple[type[RequestSignatureError], tuple[SignatureFailure, str]]:
        return (type(self), (self.reason, self.message))


@dataclass(frozen=True, slots=True)
class DevicePublicKey:
    """An enrolled device's Ed25519 public key, as the vault stores it."""

    raw: bytes
    public_key: ed25519.Ed25519PublicKey = field(compare=False, repr=False)

    @classmethod
    def from_raw(cls, raw: bytes) -> DevicePublicKey:
        if len(raw) != ED25519_KEY_LEN:
            raise KeyFileError(f"device public key must be {ED25519_KEY_LEN} bytes, got {len(raw)}")
        try:
            public_key = ed25519.Ed25519PublicKey.from_public_bytes(raw)
        except ValueError as exc:
            raise KeyFileError(f"device public key is not a valid Ed25519 key: {exc}") from None
        return cls(raw=raw, public_key=public_key)

    @classmethod
    def from_text(cls, text: str) -> DevicePublicKey:
        body = key_line(
            text,
            DEVICE_PUBLIC_PREFIX,
            "device public key",
            {DEVICE_KEY_PREFIX: "a private device key"},
        )
        return cls.from_raw(b64url_decode(body, "device public key"))

    def to_text(self) -> str:
        return DEVICE_PUBLIC_PREFIX + b64url_encode(self.raw)


@dataclass(frozen=True, slots=True)
class DeviceKey:
    """A device's Ed25519 private key (the 32-byte seed); it never leaves the agent machine."""

    raw: bytes = field(repr=False)
    private_key: ed25519.Ed25519PrivateKey = field(compare=False, repr=False)
    public: DevicePublicKey = field(compare=False)

    @classmethod
    def generate(cls) -> DeviceKey:
        return cls.from_raw(ed25519.Ed25519PrivateKey.generate().private_bytes_raw())

    @classmethod
    def from_raw(cls, raw: bytes) -> DeviceKey:
        if len(raw) != ED25519_KEY_LEN:
            raise KeyFileError(f"device key must be {ED25519_KEY_LEN} bytes, got {len(raw)}")
        try:
            private_key = ed25519.Ed25519PrivateKey.from_private_bytes(raw)
        except ValueError as exc:
            raise KeyFileError(f"device key is not a valid Ed25519 key: {exc}") from None
        public = DevicePublicKey.from_raw(private_key.public_key().public_bytes_raw())
        return cls(raw=raw, private_key=private_key, public=public)

    @classmethod
    def from_text(cls, text: str) -> DeviceKey:
        body = key_line(
            text, DEVICE_KEY_PREFIX, "device key", {DEVICE_PUBLIC_PREFIX: "a public device key"}
        )
        return cls.from_raw(b64url_decode(body, "device key"))

    def to_text(self) -> str:
        return DEVICE_KEY_PREFIX + b64url_encode(self.raw)

    def public_text(self) -> str:
        """The text the vault stores at enrolment: `callreel-device-pub-1:...`."""
        return self.public.to_text()

    def sign(self, message: bytes) -> bytes:
        return self.private_key.sign(message)

    def save(self, path: Path, *, overwrite: bool = False) -> None:
        """Write the key to `path` atomically with mode 0600.

        Refuses to replace an existing key unless `overwrite`: the vault knows the device by
        this key, so losing it means enrolling the device again.
        """
        if not overwrite and path.exists():
            raise KeyFileError(
                f"{path} already exists; refusing to overwrite a device key"
                " (move the old key away first if the device is being enrolled again)"
            )
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        text = (
            "# Callreel device key (private). It identifies this machine to the vault;\n"
            "# keep it on this machine only.\n"
            f"# public key: {self.public_text()}\n"
            f"{self.to_text()}\n"
        )
        with atomic_output(path, mode=0o600) as handle:
            handle.write(text.encode("ascii"))

    @classmethod
    def load(cls, path: Path) -> DeviceKey:
        """Read a device key file, refusing one that other users could access (as ssh does)."""
        return cls.from_text(read_private_text(path, "device key"))


@dataclass(frozen=True, slots=True)
class VerifiedRequest:
    """What a valid signature vouches for; the caller still checks the nonce for replay."""

    device_id: uuid.UUID
    nonce: str
    timestamp: int


def _preview(value: str) -> str:
    """A network value made safe to put in a message or log line: short and escaped."""
    return ascii(value[:40]) + ("..." if len(value) > 40 else "")


def _normalise_target(path_and_query: str) -> str:
    # "/x?" carries an empty query; the spec appends "?q" only for a non-empty one.
    return path_and_query[:-1] if path_and_query.endswith("?") else path_and_query


def _check_method(method: str) -> str | None:
    if not _METHOD_RE.fullmatch(method):
        return f"HTTP method must be 1-20 ASCII letters, got {_preview(method)}"
    return None


def _check_target(path_and_query: str) -> str | None:
    if len(path_and_query) > MAX_TARGET_LEN:
        return f"request target is longer than {MAX_TARGET_LEN} characters"
    if not _TARGET_RE.fullmatch(path_and_query):
        return (
            "request target must start with '/' and hold only printable ASCII without spaces"
            f" (percent-encode the rest), got {_preview(path_and_query)}"
        )
    return None


def canonical_message(
    method: str,
    path_and_query: str,
    body: bytes,
    *,
    device_id: uuid.UUID,
    timestamp: int,
    nonce: str,
) -> bytes:
    """The exact bytes a device signs. Inputs must already be valid (see `sign_request`)."""
    return canonical_message_for_digest(
        method,
        path_and_query,
        hashlib.sha256(body).hexdigest(),
        device_id=device_id,
        timestamp=timestamp,
        nonce=nonce,
    )


def canonical_message_for_digest(
    method: str,
    path_and_query: str,
    body_sha256: str,
    *,
    device_id: uuid.UUID,
    timestamp: int,
    nonce: str,
) -> bytes:
    """`canonical_message` from the body's SHA-256 (hex): a receiver that streams a large
    body to disk hashes it on the way instead of holding it."""
    return "\n".join(
        (
            CANONICAL_PREFIX,
            method.upper(),
            _normalise_target(path_and_query),
            str(device_id),
            str(timestamp),
            nonce,
            body_sha256,
        )
    ).encode("ascii")


def sign_request(
    key: DeviceKey,
    device_id: uuid.UUID,
    method: str,
    path_and_query: str,
    body: bytes,
    *,
    now: float,
    nonce: str | None = None,
) -> dict[str, str]:
    """The four `Callreel-*` headers for one request; `now` is unix seconds (time.time())."""
    problem = _check_method(method) or _check_target(path_and_query)
    if problem:
        raise ValueError(problem)
    if not math.isfinite(now) or not 0 <= now <= MAX_TIMESTAMP:
        raise ValueError(f"now must be unix seconds between 0 and {MAX_TIMESTAMP}, got {now!r}")
    if nonce is None:
        nonce = secrets.token_hex(16)
    elif not _NONCE_RE.fullmatch(nonce):
        raise ValueError(f"nonce must be 32 lower-case hex characters, got {_preview(nonce)}")
    timestamp = math.floor(now)
    message = canonical_message(
        method, path_and_query, body, device_id=device_id, timestamp=timestamp, nonce=nonce
    )
    return {
        HEADER_DEVICE: str(device_id),
        HEADER_TIMESTAMP: str(timestamp),
        HEADER_NONCE: nonce,
        HEADER_SIGNATURE: b64url_encode(key.sign(message)),
    }


def _signed_headers(headers: Mapping[str, str], wanted: tuple[str, ...]) -> dict[str, str]:
    """Look up `wanted` case-insensitively, refusing absent, repeated or oversized values."""
    by_lower = {name.lower(): name for name in wanted}
    found: dict[str, str] = {}
    for name in headers:
        canonical = by_lower.get(name.lower())
        if canonical is None:
            continue
        if canonical in found:
            raise RequestSignatureError(
                SignatureFailure.MALFORMED, f"the {canonical} header appears more than once"
            )
        value = headers[name]
        if not isinstance(value, str):
            raise RequestSignatureError(
                SignatureFailure.MALFORMED, f"the {canonical} header is not text"
            )
        found[canonical] = value
    missing = [name for name in wanted if name not in found]
    if missing:
        raise RequestSignatureError(
            SignatureFailure.MISSING_HEADER,
            f"request lacks the {', '.join(missing)} header{'s' if len(missing) > 1 else ''};"
            " every request from an enrolled device must be signed with its device key",
        )
    return found


def _malformed(message: str) -> RequestSignatureError:
    return RequestSignatureError(SignatureFailure.MALFORMED, message)


def _parse_device(value: str) -> uuid.UUID:
    if len(value) > 36 or not _DEVICE_RE.fullmatch(value):
        raise _malformed(
            f"{HEADER_DEVICE} must be a lower-case hyphenated UUID"
            f" (36 characters), got {_preview(value)}"
        )
    return uuid.UUID(value)


def parse_device_id(headers: Mapping[str, str]) -> uuid.UUID:
    """The claimed device, so the vault can fetch its public key before `verify_request`.

    Unauthenticated until `verify_request` succeeds: use it only to look the key up.
    """
    return _parse_device(_signed_headers(headers, (HEADER_DEVICE,))[HEADER_DEVICE])


@dataclass(frozen=True, slots=True)
class SignedHeaders:
    """The four headers, well formed; not yet verified."""

    device_id: uuid.UUID
    timestamp: int
    nonce: str
    signature: bytes


def parse_signed_headers(headers: Mapping[str, str]) -> SignedHeaders:
    """The signature headers, checked for form only: a receiver refuses a request without
    them before it reads (and pays for) the body the signature covers."""
    values = _signed_headers(headers, SIGNED_HEADERS)

    device_id = _parse_device(values[HEADER_DEVICE])
    timestamp_text = values[HEADER_TIMESTAMP]
    if len(timestamp_text) > 12 or not _TIMESTAMP_RE.fullmatch(timestamp_text):
        raise _malformed(
            f"{HEADER_TIMESTAMP} must be integer unix seconds (up to 12 ASCII digits,"
            f" no sign or leading zeros), got {_preview(timestamp_text)}"
        )
    timestamp = int(timestamp_text)
    nonce = values[HEADER_NONCE]
    if len(nonce) > 32 or not _NONCE_RE.fullmatch(nonce):
        raise _malformed(
            f"{HEADER_NONCE} must be 32 lower-case hex characters, got {_preview(nonce)}"
        )
    signature_text = values[HEADER_SIGNATURE]
    if len(signature_text) > _SIGNATURE_B64_LEN or not _SIGNATURE_RE.fullmatch(signature_text):
        raise _malformed(
            f"{HEADER_SIGNATURE} must be {_SIGNATURE_B64_LEN} base64url characters without"
            f" padding, got {_preview(signature_text)}"
        )
    signature = base64.urlsafe_b64decode(signature_text + "==")
    # Only one spelling per signature: the last character's spare bits must be zero.
    if b64url_encode(signature) != signature_text:
        raise _malformed(f"{HEADER_SIGNATURE} is not canonical base64url")
    return SignedHeaders(device_id, timestamp, nonce, signature)


def verify_request(
    headers: Mapping[str, str],
    method: str,
    path_and_query: str,
    body: bytes,
    *,
    public_key_text: str,
    now: float,
    max_skew_seconds: int = DEFAULT_MAX_SKEW_SECONDS,
) -> VerifiedRequest:
    """`verify_request_digest` for a body held in memory."""
    return verify_request_digest(
        headers,
        method,
        path_and_query,
        hashlib.sha256(body).hexdigest(),
        public_key_text=public_key_text,
        now=now,
        max_skew_seconds=max_skew_seconds,
    )


def verify_request_digest(
    headers: Mapping[str, str],
    method: str,
    path_and_query: str,
    body_sha256: str,
    *,
    public_key_text: str,
    now: float,
    max_skew_seconds: int = DEFAULT_MAX_SKEW_SECONDS,
) -> VerifiedRequest:
    """Check a request's signature headers against the device's stored public key; the body
    is given by its SHA-256 (hex).

    Raises `RequestSignatureError` for a request that must be refused. The signature is
    checked before the timestamp, so STALE is only reported for genuine requests and its
    message (the clock difference) can be shown to the device's operator. A malformed
    `public_key_text` is the vault's own fault and raises `KeyFileError` instead.
    """
    if not math.isfinite(now):
        raise ValueError(f"now must be finite unix seconds, got {now!r}")
    if max_skew_seconds < 0:
        raise ValueError(f"max_skew_seconds must not be negative, got {max_skew_seconds}")
    public_key = DevicePublicKey.from_text(public_key_text)
    signed = parse_signed_headers(headers)
    device_id, timestamp, nonce = signed.device_id, signed.timestamp, signed.nonce
    problem = _check_method(method) or _check_target(path_and_query)
    if problem:
        raise _malformed(problem)

    if not _DIGEST_RE.fullmatch(body_sha256):
        raise ValueError("body_sha256 must be 64 lower-case hex characters")
    message = canonical_message_for_digest(
        method, path_and_query, body_sha256, device_id=device_id, timestamp=timestamp, nonce=nonce
    )
    try:
        public_key.public_key.verify(signed.signature, message)
    except InvalidSignature:
        raise RequestSignatureError(
            SignatureFailure.BAD_SIGNATURE,
            f"request signature does not verify with the key enrolled for device {device_id}"
            " (the request was altered, or signed with another key)",
        ) from None

    skew = timestamp - now
    if abs(skew) > max_skew_seconds:
        direction = "ahead of" if skew > 0 else "behind"
        raise RequestSignatureError(
            SignatureFailure.STALE,
            f"request timestamp is {abs(skew):.0f} s {direction} the vault's clock"
            f" (allowed: {max_skew_seconds} s); check the device's clock synchronisation"
            " (NTP) and send a freshly signed request",
        )
    return VerifiedRequest(device_id=device_id, nonce=nonce, timestamp=timestamp)
