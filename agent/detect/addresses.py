"""`host:port` as policy writes a detector's address: the one parser for it."""

from __future__ import annotations

HOST_PORT_EXAMPLE = "127.0.0.1:4444 or [::1]:4444"


def parse_host_port(text: str) -> tuple[str, int]:
    """`host:port`, with an IPv6 host in brackets, -> (host, port); ValueError otherwise."""
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        port = rest[1:] if bracket and rest.startswith(":") else ""
    else:
        host, _, port = text.rpartition(":")
        if ":" in host:
            host = ""  # an IPv6 address without brackets: where does it end?
    if not host or not port.isascii() or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"{text!r} is not host:port, e.g. {HOST_PORT_EXAMPLE}")
    return host, int(port)
