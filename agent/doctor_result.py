"""What `callreel-agent doctor` checks against, and what each check reports.

Kept apart from agent/doctor.py so the per-area check modules can share these types without
importing the command itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Status = Literal["ok", "warn", "fail"]

MANAGED_POLICY_FILE = "/etc/callreel/policy.toml"


@dataclass(frozen=True, slots=True)
class DoctorConfig:
    """The settings the checks need; field names match `AgentSettings` so mapping is 1:1."""

    vault_url: str = ""
    """Empty: the embedded local vault."""
    vault_ca_file: str = ""
    window_title_pattern: str = ""
    window_executable: str = ""
    window_class: str = ""
    microphone: str = ""
    """Empty: the system's default input."""
    far_end: str = ""
    """Empty: the monitor of the default output."""
    detectors: tuple[str, ...] = ()
    softphone_executable: str = ""
    baresip_ctrl_address: str = ""
    """host:port of baresip's ctrl_tcp module."""
    spool_dir: str = ""
    """Empty: `AgentPaths.spool_dir`."""
    spool_max_mb: int = 2048


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    status: Status
    detail: str
    """What was found."""
    fix: str = ""
    """What to do about it; empty when the check passed."""

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "status": self.status, "detail": self.detail, "fix": self.fix}


def ok(name: str, detail: str) -> CheckResult:
    return CheckResult(name, "ok", detail)


def warn(name: str, detail: str, fix: str) -> CheckResult:
    return CheckResult(name, "warn", detail, fix)


def fail(name: str, detail: str, fix: str) -> CheckResult:
    return CheckResult(name, "fail", detail, fix)
