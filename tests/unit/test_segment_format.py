"""Sealed segments: round trips and refusal of every kind of tampering (property-based)."""

from __future__ import annotations

import io
import os
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol.keys import VaultIdentity
from protocol.segments.format import (
    FIXED_HEADER_LEN,
    HEADER_LEN,
    SEALED_KEY_LEN,
    TAG_LEN,
    MediaType,
    SegmentError,
    SegmentErrorKind,
    parse_header,
)
from protocol.segments.seal import RecordingSealer
from protocol.segments.unseal import open_segment

IDENTITY = VaultIdentity.generate()
OTHER_IDENTITY = VaultIdentity.generate()
CHUNK_EXPONENT = 10
CHUNK = 1 << CHUNK_EXPONENT
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _sealer(recording: uuid.UUID | None = None) -> RecordingSealer:
    return RecordingSealer(
        IDENTITY.recipient, recording or uuid.uuid4(), chunk_exponent=CHUNK_EXPONENT
    )


def _refused(sealed: bytes, **expect: object) -> SegmentError:
    with pytest.raises(SegmentError) as caught:
        open_segment(IDENTITY, sealed, **expect)  # type: ignore[arg-type]
    return caught.value


# One sealed segment of four chunks for the mutation properties (sealing per example would
# spend the budget on HPKE instead of on mutations).
RECORDING = uuid.uuid4()
PLAINTEXT = os.urandom(3 * CHUNK + 100)
SEALED = _sealer(RECORDING).seal(7, MediaType.MATROSKA, PLAINTEXT)


@PROPERTY
@given(
    plaintext=st.binary(max_size=5 * CHUNK),
    index=st.integers(0, 2**32 - 1),
    media=st.sampled_from(MediaType),
)
def test_round_trip_in_memory_and_streaming(plaintext: bytes, index: int, media: MediaType) -> None:
    sealer = _sealer()
    sealed = sealer.seal(index, media, plaintext)
    streamed = io.BytesIO()
    assert sealer.seal_stream(index, media, io.BytesIO(plaintext), streamed) == len(plaintext)
    for candidate in (sealed, streamed.getvalue()):
        header, opened = open_segment(
            IDENTITY, candidate, expect_recording=sealer.recording_id, expect_index=index
        )
        assert opened == plaintext
        assert (header.segment_index, header.media_type) == (index, media)
    chunks = max(1, -(-len(plaintext) // CHUNK))
    assert len(sealed) == HEADER_LEN + len(plaintext) + chunks * TAG_LEN


@pytest.mark.parametrize("length", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 2 * CHUNK + 1])
def test_round_trip_at_chunk_boundaries(length: int) -> None:
    plaintext = os.urandom(length)
    sealer = _sealer()
    assert open_segment(IDENTITY, sealer.seal(0, MediaType.MP4, plaintext))[1] == plaintext


@PROPERTY
@given(position=st.integers(0, len(SEALED) - 1), bit=st.integers(0, 7))
def test_any_bit_flip_is_refused(position: int, bit: int) -> None:
    tampered = bytearray(SEALED)
    tampered[position] ^= 1 << bit
    _refused(bytes(tampered))


@PROPERTY
@given(length=st.integers(0, len(SEALED) - 1))
def test_any_truncation_is_refused(length: int) -> None:
    _refused(SEALED[:length])


@PROPERTY
@given(extra=st.binary(min_size=1, max_size=3 * CHUNK))
def test_any_trailing_data_is_refused(extra: bytes) -> None:
    _refused(SEALED + extra)


@PROPERTY
@given(data=st.data())
def test_any_chunk_reordering_is_refused(data: st.DataObject) -> None:
    sealed_chunk = CHUNK + TAG_LEN
    payload = SEALED[HEADER_LEN:]
    chunks = [payload[i : i + sealed_chunk] for i in range(0, len(payload), sealed_chunk)]
    order = data.draw(st.permutations(range(len(chunks))))
    if list(order) == sorted(order):
        order = list(reversed(order))
    error = _refused(SEALED[:HEADER_LEN] + b"".join(chunks[i] for i in order))
    assert error.kind in {SegmentErrorKind.CHUNK_TAMPERED, SegmentErrorKind.TRAILING_DATA}


@PROPERTY
@given(junk=st.binary(max_size=HEADER_LEN + 64))
def test_parser_refuses_junk_with_a_segment_error_only(junk: bytes) -> None:
    with pytest.raises(SegmentError):
        open_segment(IDENTITY, junk)


def test_segment_from_another_recording_is_refused() -> None:
    other_recording = uuid.uuid4()
    other = _sealer(other_recording).seal(7, MediaType.MATROSKA, PLAINTEXT)
    assert _refused(other, expect_recording=RECORDING).kind == SegmentErrorKind.CONTEXT_MISMATCH
    assert _refused(SEALED, expect_index=8).kind == SegmentErrorKind.CONTEXT_MISMATCH
    spliced = SEALED[:HEADER_LEN] + other[HEADER_LEN:]
    assert _refused(spliced).kind == SegmentErrorKind.CHUNK_TAMPERED
    stanza = slice(FIXED_HEADER_LEN, FIXED_HEADER_LEN + SEALED_KEY_LEN)
    stanza_swapped = other[: stanza.start] + SEALED[stanza] + other[stanza.stop :]
    assert _refused(stanza_swapped).kind == SegmentErrorKind.HEADER_TAMPERED


def test_segments_of_one_recording_cannot_swap_places() -> None:
    sealer = _sealer(RECORDING)
    first = sealer.seal(0, MediaType.MATROSKA, b"first")
    second = sealer.seal(1, MediaType.MATROSKA, b"second")
    assert _refused(second, expect_index=0).kind == SegmentErrorKind.CONTEXT_MISMATCH
    spliced = first[:HEADER_LEN] + second[HEADER_LEN:]
    assert _refused(spliced).kind == SegmentErrorKind.CHUNK_TAMPERED


def test_media_type_cannot_be_relabelled() -> None:
    relabelled = bytearray(SEALED)
    relabelled[10] = MediaType.JSON
    assert _refused(bytes(relabelled)).kind == SegmentErrorKind.HEADER_TAMPERED


def test_wrong_identity_is_named_as_such() -> None:
    with pytest.raises(SegmentError) as caught:
        open_segment(OTHER_IDENTITY, SEALED)
    assert caught.value.kind == SegmentErrorKind.WRONG_KEY
    assert IDENTITY.recipient.key_id.hex() in str(caught.value)


def test_each_segment_has_a_fresh_salt_and_one_sealed_key_per_recording() -> None:
    sealer = _sealer()
    one = parse_header(sealer.seal(0, MediaType.MATROSKA, b"x"))
    two = parse_header(sealer.seal(0, MediaType.MATROSKA, b"x"))
    assert one.payload_salt != two.payload_salt
    assert one.sealed_key == two.sealed_key
    assert _sealer().seal(0, MediaType.MATROSKA, b"x") != sealer.seal(0, MediaType.MATROSKA, b"x")


def test_destroyed_sealer_refuses_to_seal() -> None:
    sealer = _sealer()
    sealer.destroy()
    with pytest.raises(RuntimeError, match="destroyed"):
        sealer.seal(0, MediaType.MATROSKA, b"x")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"chunk_exponent": 9}, "chunk exponent"),
        ({"chunk_exponent": 21}, "chunk exponent"),
        ({"data_key": b"short"}, "data key"),
    ],
)
def test_sealer_rejects_bad_parameters(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RecordingSealer(IDENTITY.recipient, uuid.uuid4(), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("index", [-1, 2**32])
def test_segment_index_out_of_range_is_rejected(index: int) -> None:
    with pytest.raises(ValueError, match="segment index"):
        _sealer().seal(index, MediaType.MATROSKA, b"")
