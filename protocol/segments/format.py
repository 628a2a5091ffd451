"""Sealed segment byte format, version 1 (specified in docs/format.md).

This module holds what both sides share: the header layout, its parsing, the key schedule and
the error type. Sealing lives in `seal.py` (agent) and opening in `unseal.py` (vault).
"""

from __future__ import annotations

import enum
import hmac
import struct
import uuid
from dataclasses import dataclass
from typing import BinaryIO

from cryptography.hazmat.primitives import hashes, hpke
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from protocol.keys import KEY_ID_LEN

MAGIC = b"\x89CRSEG\r\n"
FORMAT_VERSION = 1
SUITE_XWING_AES256GCM = 1
"""HPKE(MLKEM768-X25519, HKDF-SHA256, AES-256-GCM) for the data key; AES-256-GCM STREAM payload."""

DATA_KEY_LEN = 32
PAYLOAD_SALT_LEN = 16
HEADER_MAC_LEN = 32
TAG_LEN = 16
NONCE_COUNTER_LEN = 11
MIN_CHUNK_EXPONENT = 10
MAX_CHUNK_EXPONENT = 20
DEFAULT_CHUNK_EXPONENT = 16
MAX_SEGMENT_INDEX = 2**32 - 1
METADATA_SEGMENT_INDEX = MAX_SEGMENT_INDEX
"""A recording's JSON metadata (pauses, counts) travels as the last possible segment."""

HPKE_SUITE = hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
SEALED_KEY_LEN = hpke.KEM.MLKEM768_X25519.enc_length() + DATA_KEY_LEN + TAG_LEN

# magic, version, suite, media type, chunk exponent, recording id, segment index,
# recipient key id, payload salt, sealed key length
_FIXED = struct.Struct(f">8sBBBB16sI{KEY_ID_LEN}s{PAYLOAD_SALT_LEN}sH")
FIXED_HEADER_LEN = _FIXED.size
HEADER_LEN = FIXED_HEADER_LEN + SEALED_KEY_LEN + HEADER_MAC_LEN

_SEALED_KEY_INFO = b"callreel/v1/data-key"
_HEADER_MAC_INFO = b"callreel/v1/header-mac"
_PAYLOAD_KEY_INFO = b"callreel/v1/payload"


class MediaType(enum.IntEnum):
    """What the payload is; bound into the payload key so it cannot be relabelled."""

    MATROSKA = 1
    MP4 = 2
    JSON = 3

    @property
    def label(self) -> str:
        return {1: "mkv", 2: "mp4", 3: "json"}[self.value]

    @classmethod
    def from_label(cls, label: str) -> MediaType:
        for member in cls:
            if member.label == label:
                return member
        choices = ", ".join(member.label for member in cls)
        raise ValueError(f"unknown media type {label!r}; choose one of: {choices}")


class SegmentErrorKind(enum.StrEnum):
    MALFORMED = "malformed"
    UNSUPPORTED = "unsupported"
    WRONG_KEY = "wrong-key"
    HEADER_TAMPERED = "header-tampered"
    CONTEXT_MISMATCH = "context-mismatch"
    CHUNK_TAMPERED = "chunk-tampered"
    TRUNCATED = "truncated"
    TRAILING_DATA = "trailing-data"


class SegmentError(ValueError):
    """The one error for a segment that cannot be trusted; `kind` says which check failed."""

    def __init__(self, kind: SegmentErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class SegmentHeader:
    media_type: MediaType
    chunk_exponent: int
    recording_id: uuid.UUID
    segment_index: int
    recipient_key_id: bytes
    payload_salt: bytes
    sealed_key: bytes
    mac: bytes
    version: int = FORMAT_VERSION
    suite: int = SUITE_XWING_AES256GCM

    @property
    def chunk_size(self) -> int:
        return 1 << self.chunk_exponent

    def authenticated_bytes(self) -> bytes:
        """Every header byte before the MAC, which the MAC covers."""
        return (
            _FIXED.pack(
                MAGIC,
                self.version,
                self.suite,
                self.media_type,
                self.chunk_exponent,
                self.recording_id.bytes,
                self.segment_index,
                self.recipient_key_id,
                self.payload_salt,
                len(self.sealed_key),
            )
            + self.sealed_key
        )

    def to_bytes(self) -> bytes:
        return self.authenticated_bytes() + self.mac


def parse_header(data: bytes) -> SegmentHeader:
    """Check the header's structure (no key needed); `data` may hold more than the header."""
    if len(data) < len(MAGIC) or data[: len(MAGIC)] != MAGIC:
        raise SegmentError(
            SegmentErrorKind.MALFORMED, "not a Callreel sealed segment (magic bytes differ)"
        )
    if len(data) < FIXED_HEADER_LEN:
        raise SegmentError(SegmentErrorKind.TRUNCATED, "segment ends inside its header")
    (
        _magic,
        version,
        suite,
        media_type,
        chunk_exponent,
        recording_id,
        segment_index,
        key_id,
        salt,
        sealed_len,
    ) = _FIXED.unpack_from(data)
    if version != FORMAT_VERSION:
        raise SegmentError(
            SegmentErrorKind.UNSUPPORTED,
            f"segment format version {version} is not supported (this build reads version"
            f" {FORMAT_VERSION}); upgrade Callreel",
        )
    if suite != SUITE_XWING_AES256GCM:
        raise SegmentError(SegmentErrorKind.UNSUPPORTED, f"cipher suite {suite} is not supported")
    try:
        media = MediaType(media_type)
    except ValueError:
        raise SegmentError(
            SegmentErrorKind.UNSUPPORTED, f"media type {media_type} is not supported"
        ) from None
    if not MIN_CHUNK_EXPONENT <= chunk_exponent <= MAX_CHUNK_EXPONENT:
        raise SegmentError(
            SegmentErrorKind.MALFORMED,
            f"chunk size 2^{chunk_exponent} is outside 2^{MIN_CHUNK_EXPONENT}"
            f"..2^{MAX_CHUNK_EXPONENT}",
        )
    if sealed_len != SEALED_KEY_LEN:
        raise SegmentError(
            SegmentErrorKind.MALFORMED,
            f"sealed data key is {sealed_len} bytes, suite {suite} needs {SEALED_KEY_LEN}",
        )
    if len(data) < HEADER_LEN:
        raise SegmentError(SegmentErrorKind.TRUNCATED, "segment ends inside its header")
    sealed_key = bytes(data[FIXED_HEADER_LEN : FIXED_HEADER_LEN + SEALED_KEY_LEN])
    mac = bytes(data[FIXED_HEADER_LEN + SEALED_KEY_LEN : HEADER_LEN])
    return SegmentHeader(
        media_type=media,
        chunk_exponent=chunk_exponent,
        recording_id=uuid.UUID(bytes=recording_id),
        segment_index=segment_index,
        recipient_key_id=key_id,
        payload_salt=salt,
        sealed_key=sealed_key,
        mac=mac,
    )


def read_header(source: BinaryIO) -> SegmentHeader:
    return parse_header(read_up_to(source, HEADER_LEN))


def read_up_to(source: BinaryIO, size: int) -> bytes:
    """Read `size` bytes, or fewer only at end of stream (pipes return short reads)."""
    parts: list[bytes] = []
    remaining = size
    while remaining:
        part = source.read(remaining)
        if not part:
            break
        parts.append(part)
        remaining -= len(part)
    return b"".join(parts)


def sealed_key_info(recording_id: uuid.UUID) -> bytes:
    """HPKE `info`: a data key sealed for one recording will not open as another's."""
    return _SEALED_KEY_INFO + recording_id.bytes


def _hkdf(key: bytes, salt: bytes | None, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(key)


def header_mac(data_key: bytes, authenticated_bytes: bytes) -> bytes:
    mac_key = _hkdf(data_key, None, _HEADER_MAC_INFO)
    return hmac.digest(mac_key, authenticated_bytes, "sha256")


def payload_key(data_key: bytes, header: SegmentHeader) -> bytes:
    """Per-segment key: binds recording, index, media type and chunk size into the key."""
    context = struct.pack(
        ">BBBB16sI",
        header.version,
        header.suite,
        header.media_type,
        header.chunk_exponent,
        header.recording_id.bytes,
        header.segment_index,
    )
    return _hkdf(data_key, header.payload_salt, _PAYLOAD_KEY_INFO + context)


def chunk_nonce(counter: int, final: bool) -> bytes:
    return counter.to_bytes(NONCE_COUNTER_LEN, "big") + (b"\x01" if final else b"\x00")
