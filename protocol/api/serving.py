"""What `callreel-vault serve --ready-file FILE` writes once it accepts connections, for the
program that started it (the agent's embedded local vault) to find it without guessing."""

from __future__ import annotations

from protocol.api.base import Reply


class ServeReady(Reply):
    url: str
    """https://HOST:PORT, with the port it really listens on (also for --port 0)."""
    certificate: str
    """Path of the certificate to pin (PEM)."""
    certificate_sha256: str
