"""Netstrings (`<length>:<payload>,`), the framing of baresip's ctrl_tcp module.

The decoder is incremental and pure: feed it whatever the socket returned and it yields the
payloads completed so far. Input that cannot be a netstring raises `NetstringError` and leaves
the decoder unusable, because after a framing error nothing later in the stream can be trusted.
"""

from __future__ import annotations

from collections.abc import Iterator

DEFAULT_MAX_PAYLOAD = 1 << 20
"""baresip's events are a few hundred bytes; a megabyte is far beyond any honest message."""


class NetstringError(ValueError):
    pass


def encode(payload: bytes) -> bytes:
    return b"%d:%s," % (len(payload), payload)


class NetstringDecoder:
    def __init__(self, max_payload: int = DEFAULT_MAX_PAYLOAD) -> None:
        if max_payload < 0:
            raise ValueError("max_payload must not be negative")
        self._max_payload = max_payload
        self._max_digits = len(str(max_payload))
        self._buffer = bytearray()
        self._failed: NetstringError | None = None

    @property
    def pending(self) -> int:
        """Bytes received but not yet part of a complete netstring."""
        return len(self._buffer)

    def feed(self, data: bytes) -> Iterator[bytes]:
        """Add `data` and yield each payload it completes, in order."""
        if self._failed is not None:
            raise NetstringError(f"decoder already failed: {self._failed}")
        self._buffer += data
        try:
            while (payload := self._next()) is not None:
                yield payload
        except NetstringError as exc:
            self._failed = exc
            raise

    def _next(self) -> bytes | None:
        colon = self._buffer.find(b":", 0, self._max_digits + 1)
        if colon < 0:
            prefix = bytes(self._buffer[: self._max_digits + 1])
            if not prefix.isdigit() and prefix:
                raise NetstringError(f"malformed netstring length {prefix!r}")
            if len(self._buffer) > self._max_digits:
                raise NetstringError(
                    f"netstring length {prefix!r}... exceeds the limit of {self._max_payload} bytes"
                )
            return None
        digits = bytes(self._buffer[:colon])
        # Leading zeros are forbidden by the format (and would hide absurd lengths).
        if not digits.isdigit() or (len(digits) > 1 and digits.startswith(b"0")):
            raise NetstringError(f"malformed netstring length {digits!r}")
        length = int(digits)
        if length > self._max_payload:
            raise NetstringError(
                f"netstring payload of {length} bytes exceeds the limit of {self._max_payload}"
            )
        end = colon + 1 + length
        if len(self._buffer) <= end:
            return None
        if self._buffer[end] != ord(","):
            raise NetstringError(
                f"netstring of {length} bytes is not terminated by ',' "
                f"(found {bytes(self._buffer[end : end + 1])!r})"
            )
        payload = bytes(self._buffer[colon + 1 : end])
        del self._buffer[: end + 1]
        return payload
