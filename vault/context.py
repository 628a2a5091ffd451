"""What every vault operation works with: storage, the vault key, the clock, and who asks."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy.engine import Engine

from protocol.api.vocabulary import Purpose
from protocol.keys import VaultIdentity
from vault.errors import Forbidden
from vault.purposes import RETENTION, RetentionRule
from vault.roles import Permission, Role, allowed
from vault.storage.base import SegmentStore

MAX_SEGMENT_BYTES = 64 * 1024 * 1024
"""Larger uploads are refused before they are read: a 10 s segment is about 100-200 KB."""


@dataclass(frozen=True, slots=True)
class VaultContext:
    engine: Engine
    store: SegmentStore
    identity: VaultIdentity
    clock: Callable[[], datetime]
    max_segment_bytes: int = MAX_SEGMENT_BYTES
    retention: Mapping[Purpose, RetentionRule] = field(default_factory=lambda: dict(RETENTION))
    audit_checkpoints: Path | None = None
    """The file the access log's signed checkpoints are appended to (None: not written)."""
    retired_identities: Mapping[bytes, VaultIdentity] = field(default_factory=dict)
    """Identities of rotated-out keys, by key id: recordings sealed to them still open."""
    scratch: Path | None = None
    """Where upload bodies are spooled while their signature is checked (None: the system's
    temporary directory)."""
    announced_tls_pins: Callable[[], list[str]] | None = None
    """The TLS keys agents are told to trust at each heartbeat (vault/tls_announcement.py);
    None: not told (a vault served by something else)."""


def identity_for(ctx: VaultContext, key_id: bytes) -> VaultIdentity | None:
    """The current or a retired identity with this key id, if the vault holds it."""
    if key_id == ctx.identity.recipient.key_id:
        return ctx.identity
    return ctx.retired_identities.get(key_id)


def all_identities(ctx: VaultContext) -> list[VaultIdentity]:
    return [ctx.identity, *ctx.retired_identities.values()]


@dataclass(frozen=True, slots=True)
class Actor:
    """A signed-in person."""

    user_id: int
    username: str
    roles: frozenset[Role]
    team: str | None = None

    def require(self, permission: Permission) -> None:
        self.require_any((permission,))

    def require_any(self, permissions: tuple[Permission, ...]) -> None:
        if not any(allowed(self.roles, p) for p in permissions):
            have = ", ".join(sorted(self.roles)) or "none"
            wanted = " or ".join(p.value for p in permissions)
            raise Forbidden(
                f"{self.username} may not {wanted} (roles: {have}); ask an"
                " administrator for a role that allows it (docs/roles.md)"
            )
