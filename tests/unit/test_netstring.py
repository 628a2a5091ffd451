"""The netstring framing of baresip's ctrl_tcp."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.detect.netstring import NetstringDecoder, NetstringError, encode


def test_encode() -> None:
    assert encode(b"") == b"0:,"
    assert encode(b"hello") == b"5:hello,"


def test_decodes_several_and_split_input() -> None:
    decoder = NetstringDecoder()
    assert list(decoder.feed(b"5:hello,3:a")) == [b"hello"]
    assert decoder.pending == 3
    assert list(decoder.feed(b"bc")) == []
    assert list(decoder.feed(b",0:,")) == [b"abc", b""]
    assert decoder.pending == 0


def test_real_baresip_event() -> None:
    event = b'{"event":true,"type":"CALL_CLOSED","id":"1-2@127.0.0.1","param":"bye"}'
    assert list(NetstringDecoder().feed(encode(event))) == [event]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"x:abc,", "malformed netstring length"),
        (b"-1:a,", "malformed netstring length"),
        (b"01:a,", "malformed netstring length"),
        (b":a,", "malformed netstring length"),
        (b"3:abcX", "not terminated by ','"),
        (b"11:hello world,", "exceeds the limit of 10"),
        (b"123456789", "exceeds the limit of 10"),
    ],
)
def test_rejects_malformed(data: bytes, message: str) -> None:
    decoder = NetstringDecoder(max_payload=10)
    with pytest.raises(NetstringError, match=message):
        list(decoder.feed(data))
    # After a framing error the stream cannot be trusted, so the decoder stays failed.
    with pytest.raises(NetstringError, match="already failed"):
        list(decoder.feed(b"1:a,"))


def test_huge_length_is_rejected_before_the_payload_arrives() -> None:
    decoder = NetstringDecoder(max_payload=1000)
    with pytest.raises(NetstringError, match="exceeds"):
        list(decoder.feed(b"99999999999999999999"))


@given(
    payloads=st.lists(st.binary(max_size=300), max_size=20),
    cuts=st.lists(st.integers(min_value=0, max_value=7000), max_size=20),
)
def test_round_trip_whatever_the_chunking(payloads: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(encode(payload) for payload in payloads)
    points = sorted({cut % (len(stream) + 1) for cut in cuts} | {0, len(stream)})
    decoder = NetstringDecoder(max_payload=300)
    decoded: list[bytes] = []
    for start, end in itertools.pairwise(points):
        decoded.extend(decoder.feed(stream[start:end]))
    assert decoded == payloads
    assert decoder.pending == 0
