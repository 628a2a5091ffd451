"""Opening sealed segments: needs the vault identity, so only the vault calls this.

It lives beside the sealing code because together they are the reference implementation of
docs/format.md; the agent never has an identity to pass in.
"""

from __future__ import annotations

import hmac
import io
import uuid
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from protocol.keys import VaultIdentity
from protocol.segments.format import (
    HPKE_SUITE,
    TAG_LEN,
    SegmentError,
    SegmentErrorKind,
    SegmentHeader,
    chunk_nonce,
    header_mac,
    payload_key,
    read_header,
    read_up_to,
    sealed_key_info,
)


def unseal_data_key(identity: VaultIdentity, header: SegmentHeader) -> bytes:
    """Open the recording's data key and check the header MAC with it."""
    if not hmac.compare_digest(header.recipient_key_id, identity.recipient.key_id):
        raise SegmentError(
            SegmentErrorKind.WRONG_KEY,
            f"segment is sealed to vault key {header.recipient_key_id.hex()}, but this identity"
            f" is key {identity.recipient.key_id.hex()}; use the matching identity file",
        )
    try:
        data_key = HPKE_SUITE.decrypt(
            header.sealed_key, identity.private_key, info=sealed_key_info(header.recording_id)
        )
    except InvalidTag:
        raise SegmentError(
            SegmentErrorKind.HEADER_TAMPERED,
            "the sealed data key does not open with this identity: the header (recording id or"
            " key stanza) was modified",
        ) from None
    verify_header(data_key, header)
    return data_key


def verify_header(data_key: bytes, header: SegmentHeader) -> None:
    expected = header_mac(data_key, header.authenticated_bytes())
    if not hmac.compare_digest(expected, header.mac):
        raise SegmentError(
            SegmentErrorKind.HEADER_TAMPERED,
            "header authentication failed: the header was modified or the data key is wrong",
        )


def check_context(
    header: SegmentHeader,
    expect_recording: uuid.UUID | None,
    expect_index: int | None,
) -> None:
    """Refuse a valid segment presented as part of another recording or at another place."""
    if expect_recording is not None and header.recording_id != expect_recording:
        raise SegmentError(
            SegmentErrorKind.CONTEXT_MISMATCH,
            f"segment belongs to recording {header.recording_id}, not {expect_recording}",
        )
    if expect_index is not None and header.segment_index != expect_index:
        raise SegmentError(
            SegmentErrorKind.CONTEXT_MISMATCH,
            f"segment is number {header.segment_index} of its recording, not {expect_index}",
        )


def decrypt_payload(
    data_key: bytes, header: SegmentHeader, source: BinaryIO, sink: BinaryIO
) -> int:
    """Decrypt the STREAM payload that follows `header`; returns plaintext bytes written.

    Each chunk is authenticated before it is written, but the segment is only whole once this
    returns: callers must discard what was written if it raises.
    """
    cipher = AESGCM(payload_key(data_key, header))
    sealed_chunk_size = header.chunk_size + TAG_LEN
    current = read_up_to(source, sealed_chunk_size)
    counter = 0
    written = 0
    while True:
        following = read_up_to(source, sealed_chunk_size)
        is_last = not following
        plaintext = _open_chunk(cipher, counter, current, is_last)
        if is_last and not plaintext and counter > 0:
            raise SegmentError(
                SegmentErrorKind.MALFORMED,
                f"chunk {counter} is an empty final chunk after full chunks (not canonical)",
            )
        sink.write(plaintext)
        written += len(plaintext)
        if is_last:
            return written
        current = following
        counter += 1


def _open_chunk(cipher: AESGCM, counter: int, sealed: bytes, is_last: bool) -> bytes:
    if len(sealed) < TAG_LEN:
        raise SegmentError(
            SegmentErrorKind.TRUNCATED,
            f"segment ends inside chunk {counter} ({len(sealed)} bytes, at least {TAG_LEN} needed)",
        )
    try:
        return cipher.decrypt(chunk_nonce(counter, is_last), sealed, None)
    except InvalidTag:
        pass
    # Diagnose with the opposite final flag: authenticity is already lost either way.
    try:
        cipher.decrypt(chunk_nonce(counter, not is_last), sealed, None)
    except InvalidTag:
        if is_last:
            reason = (
                "the last chunk failed authentication: the segment was modified, cut short or"
                " has data appended"
            )
        else:
            reason = (
                f"chunk {counter} failed authentication: the payload was modified, reordered or"
                " taken from another segment"
            )
        raise SegmentError(SegmentErrorKind.CHUNK_TAMPERED, reason) from None
    if is_last:
        raise SegmentError(
            SegmentErrorKind.TRUNCATED,
            f"segment was truncated: it ends after chunk {counter}, which is not the final chunk",
        )
    raise SegmentError(
        SegmentErrorKind.TRAILING_DATA, f"unexpected data after the final chunk ({counter})"
    )


def open_segment_stream(
    identity: VaultIdentity,
    source: BinaryIO,
    sink: BinaryIO,
    *,
    expect_recording: uuid.UUID | None = None,
    expect_index: int | None = None,
) -> SegmentHeader:
    header = read_header(source)
    check_context(header, expect_recording, expect_index)
    data_key = unseal_data_key(identity, header)
    decrypt_payload(data_key, header, source, sink)
    return header


def open_segment(
    identity: VaultIdentity,
    sealed: bytes,
    *,
    expect_recording: uuid.UUID | None = None,
    expect_index: int | None = None,
) -> tuple[SegmentHeader, bytes]:
    sink = io.BytesIO()
    header = open_segment_stream(
        identity,
        io.BytesIO(sealed),
        sink,
        expect_recording=expect_recording,
        expect_index=expect_index,
    )
    return header, sink.getvalue()
