"""Where the agent keeps its files, per user (platformdirs), in one place.

Tests and IT checks pass another root with `AgentPaths.under(root)`; the layout below it is
the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "callreel"


@dataclass(frozen=True, slots=True)
class AgentPaths:
    config_dir: Path
    """User settings (`agent.toml`)."""
    data_dir: Path
    """Enrolment, the device key, the spool and, on the embedded default, the local vault."""
    runtime_dir: Path
    """The control socket and the single-instance lock (per login session)."""

    @classmethod
    def for_user(cls) -> AgentPaths:
        return cls(
            Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)),
            Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)),
            Path(platformdirs.user_runtime_dir(APP_NAME, appauthor=False)),
        )

    @classmethod
    def under(cls, root: Path) -> AgentPaths:
        return cls(root / "config", root / "data", root / "run")

    @classmethod
    def at(cls, root: Path | None) -> AgentPaths:
        """Under `root` (a command's --root) if given, else the user's own directories."""
        return cls.for_user() if root is None else cls.under(root)

    @property
    def user_settings_file(self) -> Path:
        return self.config_dir / "agent.toml"

    @property
    def enrolment_file(self) -> Path:
        """JSON: vault_url, ca_file, device_id, agent, vault_recipient (public key text)."""
        return self.data_dir / "enrolment.json"

    @property
    def device_key_file(self) -> Path:
        """The device's Ed25519 private key, mode 0600 (protocol/signing.py)."""
        return self.data_dir / "device.key"

    @property
    def spool_dir(self) -> Path:
        return self.data_dir / "spool"

    @property
    def local_vault_dir(self) -> Path:
        """The embedded default's own vault (`callreel-vault serve --data`)."""
        return self.data_dir / "local-vault"

    @property
    def control_address_dir(self) -> Path:
        return self.runtime_dir

    @property
    def instance_lock_file(self) -> Path:
        return self.runtime_dir / "agent.lock"
