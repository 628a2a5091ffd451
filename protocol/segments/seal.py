"""Sealing segments on the agent: in memory, with the vault's public key only."""

from __future__ import annotations

import dataclasses
import os
import uuid
from typing import BinaryIO

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from protocol.keys import VaultRecipient
from protocol.segments.format import (
    DATA_KEY_LEN,
    DEFAULT_CHUNK_EXPONENT,
    HPKE_SUITE,
    MAX_CHUNK_EXPONENT,
    MAX_SEGMENT_INDEX,
    MIN_CHUNK_EXPONENT,
    PAYLOAD_SALT_LEN,
    MediaType,
    SegmentHeader,
    chunk_nonce,
    header_mac,
    payload_key,
    read_up_to,
    sealed_key_info,
)


class RecordingSealer:
    """Seals every segment of one recording under that recording's own data key.

    The data key is random and sealed once to the vault; the sealed copy travels in each
    segment header so that every segment can be opened on its own. `destroy()` drops the key
    when the recording ends (best effort in Python: bytes objects cannot be wiped).
    """

    def __init__(
        self,
        recipient: VaultRecipient,
        recording_id: uuid.UUID,
        *,
        chunk_exponent: int = DEFAULT_CHUNK_EXPONENT,
        data_key: bytes | None = None,
    ) -> None:
        if not MIN_CHUNK_EXPONENT <= chunk_exponent <= MAX_CHUNK_EXPONENT:
            raise ValueError(
                f"chunk exponent must be {MIN_CHUNK_EXPONENT}..{MAX_CHUNK_EXPONENT},"
                f" got {chunk_exponent}"
            )
        if data_key is not None and len(data_key) != DATA_KEY_LEN:
            raise ValueError(f"data key must be {DATA_KEY_LEN} bytes")
        self._recipient = recipient
        self._recording_id = recording_id
        self._chunk_exponent = chunk_exponent
        self._data_key: bytearray | None = bytearray(
            data_key if data_key is not None else os.urandom(DATA_KEY_LEN)
        )
        self._sealed_key = HPKE_SUITE.encrypt(
            bytes(self._data_key), recipient.public_key, info=sealed_key_info(recording_id)
        )

    @property
    def recording_id(self) -> uuid.UUID:
        return self._recording_id

    def seal(
        self,
        segment_index: int,
        media_type: MediaType,
        plaintext: bytes,
        *,
        payload_salt: bytes | None = None,
    ) -> bytes:
        """Return the sealed segment; `plaintext` never leaves memory."""
        header, cipher = self._begin(segment_index, media_type, payload_salt)
        size = header.chunk_size
        view = memoryview(plaintext)
        parts = [header.to_bytes()]
        # The last chunk carries the final flag; an empty final chunk only for empty payloads.
        chunk_count = max(1, -(-len(plaintext) // size))
        for counter in range(chunk_count):
            chunk = view[counter * size : (counter + 1) * size]
            final = counter == chunk_count - 1
            parts.append(cipher.encrypt(chunk_nonce(counter, final), chunk, None))
        return b"".join(parts)

    def seal_stream(
        self,
        segment_index: int,
        media_type: MediaType,
        source: BinaryIO,
        sink: BinaryIO,
    ) -> int:
        """Seal from a stream without holding it all in memory; returns plaintext bytes read."""
        header, cipher = self._begin(segment_index, media_type, None)
        size = header.chunk_size
        sink.write(header.to_bytes())
        total = 0
        counter = 0
        current = read_up_to(source, size)
        while True:
            following = read_up_to(source, size) if len(current) == size else b""
            final = not following
            sink.write(cipher.encrypt(chunk_nonce(counter, final), current, None))
            total += len(current)
            if final:
                return total
            current = following
            counter += 1

    def destroy(self) -> None:
        if self._data_key is not None:
            self._data_key[:] = bytes(len(self._data_key))
            self._data_key = None

    def _begin(
        self, segment_index: int, media_type: MediaType, payload_salt: bytes | None
    ) -> tuple[SegmentHeader, AESGCM]:
        if self._data_key is None:
            raise RuntimeError("this recording's data key was destroyed; start a new recording")
        if not 0 <= segment_index <= MAX_SEGMENT_INDEX:
            raise ValueError(f"segment index must be 0..{MAX_SEGMENT_INDEX}, got {segment_index}")
        salt = payload_salt if payload_salt is not None else os.urandom(PAYLOAD_SALT_LEN)
        if len(salt) != PAYLOAD_SALT_LEN:
            raise ValueError(f"payload salt must be {PAYLOAD_SALT_LEN} bytes")
        data_key = bytes(self._data_key)
        unsigned = SegmentHeader(
            media_type=MediaType(media_type),
            chunk_exponent=self._chunk_exponent,
            recording_id=self._recording_id,
            segment_index=segment_index,
            recipient_key_id=self._recipient.key_id,
            payload_salt=salt,
            sealed_key=self._sealed_key,
            mac=b"",
        )
        header = dataclasses.replace(
            unsigned, mac=header_mac(data_key, unsigned.authenticated_bytes())
        )
        return header, AESGCM(payload_key(data_key, header))
