"""Regenerate the published segment test vectors: `python -m tests.data.vectors.make_vectors`.

The data keys and payload salts are fixed so that the header MAC and the payload can be
checked from `data_key` alone; only the HPKE encapsulation is random, so regenerating changes
the files. The identity here is a TEST KEY, published on purpose: never use it for a vault.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

from protocol.keys import VaultIdentity
from protocol.segments.format import FIXED_HEADER_LEN, HEADER_LEN, TAG_LEN, MediaType
from protocol.segments.seal import RecordingSealer

HERE = Path(__file__).parent
CHUNK_EXPONENT = 10
SEALED_CHUNK = (1 << CHUNK_EXPONENT) + TAG_LEN
RECORDING_A = uuid.UUID("0a0a0a0a-0000-4000-8000-00000000000a")
RECORDING_B = uuid.UUID("0b0b0b0b-0000-4000-8000-00000000000b")
DATA_KEY_A = bytes(range(32))
DATA_KEY_B = bytes(range(32, 64))
SALT = bytes(range(100, 116))


def pattern(length: int) -> bytes:
    """Plaintext of the vectors: byte i is i mod 251 (no period aligned with chunks)."""
    return bytes(i % 251 for i in range(length))


def _flip(data: bytes, offset: int) -> bytes:
    return data[:offset] + bytes([data[offset] ^ 0x01]) + data[offset + 1 :]


def main() -> None:
    identity = VaultIdentity.from_text((HERE / "test-identity.key").read_text())
    other = VaultIdentity.generate()
    (HERE / "other-recipient.pub").write_text(other.recipient.to_text() + "\n")
    sealer_a = RecordingSealer(
        identity.recipient, RECORDING_A, chunk_exponent=CHUNK_EXPONENT, data_key=DATA_KEY_A
    )
    sealer_b = RecordingSealer(
        identity.recipient, RECORDING_B, chunk_exponent=CHUNK_EXPONENT, data_key=DATA_KEY_B
    )
    sealer_other = RecordingSealer(
        other.recipient, RECORDING_A, chunk_exponent=CHUNK_EXPONENT, data_key=DATA_KEY_A
    )

    def seal_a(index: int, length: int, media: MediaType = MediaType.MATROSKA) -> bytes:
        return sealer_a.seal(index, media, pattern(length), payload_salt=SALT)

    multi = seal_a(1, 2500)
    exact = seal_a(2, 1024)
    payload_b = sealer_b.seal(1, MediaType.MATROSKA, pattern(2500), payload_salt=SALT)
    chunk0 = slice(HEADER_LEN, HEADER_LEN + SEALED_CHUNK)
    chunk1 = slice(HEADER_LEN + SEALED_CHUNK, HEADER_LEN + 2 * SEALED_CHUNK)
    # Offsets from docs/format.md: index after magic(8)+4 single bytes+recording id(16).
    index_offset = FIXED_HEADER_LEN - 2 - 16 - 8 - 4
    recording_offset = index_offset - 16
    key_id_offset = index_offset + 4
    other_sealed = sealer_other.seal(1, MediaType.MATROSKA, pattern(2500), payload_salt=SALT)

    ok: dict[str, tuple[bytes, int, int, MediaType]] = {
        "ok-empty": (seal_a(0, 0), 0, 0, MediaType.MATROSKA),
        "ok-one-chunk": (seal_a(3, 100), 3, 100, MediaType.MATROSKA),
        "ok-exact-chunk": (exact, 2, 1024, MediaType.MATROSKA),
        "ok-three-chunks": (multi, 1, 2500, MediaType.MATROSKA),
        "ok-json": (seal_a(4, 300, MediaType.JSON), 4, 300, MediaType.JSON),
    }
    bad: dict[str, tuple[bytes, str, str]] = {
        "bad-magic": (b"\x89CRSEH" + multi[6:], "malformed", "first bytes are not the magic"),
        "bad-version": (multi[:8] + b"\x02" + multi[9:], "unsupported", "version byte is 2"),
        "truncated-header": (multi[: HEADER_LEN - 5], "truncated", "cut inside the header MAC"),
        "truncated-final-chunk-dropped": (
            multi[: chunk1.stop],
            "truncated",
            "ends after two full chunks; the final chunk is missing",
        ),
        "truncated-mid-chunk": (multi[:-7], "chunk-tampered", "last 7 bytes cut"),
        "trailing-data": (exact + b"\x00" * 17, "trailing-data", "17 bytes after the final chunk"),
        "chunks-reordered": (
            multi[: chunk0.start] + multi[chunk1] + multi[chunk0] + multi[chunk1.stop :],
            "chunk-tampered",
            "chunks 0 and 1 swapped",
        ),
        "payload-bit-flip": (
            _flip(multi, HEADER_LEN + 40),
            "chunk-tampered",
            "bit flip in chunk 0",
        ),
        "segment-index-changed": (
            _flip(multi, index_offset + 3),
            "header-tampered",
            "segment index 1 changed to 0",
        ),
        "recording-id-changed": (
            _flip(multi, recording_offset),
            "header-tampered",
            "recording id changed (the sealed key is bound to it)",
        ),
        "header-mac-flip": (_flip(multi, HEADER_LEN - 1), "header-tampered", "MAC bit flip"),
        "payload-from-other-recording": (
            multi[:HEADER_LEN] + payload_b[HEADER_LEN:],
            "chunk-tampered",
            "header of recording A, payload of recording B",
        ),
        "sealed-to-other-key": (other_sealed, "wrong-key", "sealed to another vault key"),
        "key-id-forged": (
            other_sealed[:key_id_offset]
            + identity.recipient.key_id
            + other_sealed[key_id_offset + 8 :],
            "header-tampered",
            "sealed to another key, key id replaced by the test key's",
        ),
    }
    entries: list[dict[str, Any]] = []
    for name, (data, index, length, media) in ok.items():
        (HERE / f"{name}.seg").write_bytes(data)
        entries.append(
            {
                "name": name,
                "expect": "ok",
                "recording_id": str(RECORDING_A),
                "segment_index": index,
                "media_type": media.label,
                "plaintext_length": length,
                "plaintext_sha256": hashlib.sha256(pattern(length)).hexdigest(),
                "data_key": DATA_KEY_A.hex(),
                "payload_salt": SALT.hex(),
            }
        )
    for name, (data, kind, what) in bad.items():
        (HERE / f"{name}.seg").write_bytes(data)
        entries.append({"name": name, "expect": "error", "kind": kind, "what": what})
    entries.append(
        {
            "name": "ok-three-chunks",
            "expect": "error",
            "kind": "context-mismatch",
            "what": "a valid segment presented as part of recording B",
            "expect_recording": str(RECORDING_B),
        }
    )
    manifest = {
        "format_version": 1,
        "identity": "test-identity.key",
        "chunk_exponent": CHUNK_EXPONENT,
        "plaintext": "byte i of the plaintext is i mod 251",
        "vectors": entries,
    }
    (HERE / "vectors.json").write_text(json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    main()
