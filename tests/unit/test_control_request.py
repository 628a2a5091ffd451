"""Whatever bytes reach the control channel, parsing answers with a request or a reason, never
an exception that would end the connection without an answer."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from agent.control.channel import MAX_REQUEST_BYTES, parse_request

_JSON_PIECES = st.sampled_from([b"[", b"]", b"{", b"}", b'"command"', b":", b",", b'"x"', b"1"])


@given(st.one_of(st.binary(max_size=MAX_REQUEST_BYTES), st.lists(_JSON_PIECES).map(b"".join)))
def test_parsing_never_raises(data: bytes) -> None:
    assert isinstance(parse_request(data), dict | str)


def test_deep_nesting_is_a_reason_not_a_crash() -> None:
    assert parse_request(b"[" * 4000) == "request is not JSON this agent accepts: nested too deeply"
    nested = b'{"command": "status", "args": ' + b"[" * 2000 + b"]" * 2000 + b"}"
    assert parse_request(nested) == "request is not JSON this agent accepts: nested too deeply"
