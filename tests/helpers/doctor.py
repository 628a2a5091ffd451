"""Shared by the doctor's tests: results by name, a user's agent directories, an enrolment file."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from agent.doctor.result import CheckResult
from agent.paths import AgentPaths
from protocol.keys import VaultIdentity


def by_name(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {result.name: result for result in results}


def private_agent_paths(root: Path) -> AgentPaths:
    """An agent's directories under `root`, made private (0700) as the agent makes them."""
    agent_paths = AgentPaths.under(root / "agent")
    for directory in (agent_paths.config_dir, agent_paths.data_dir):
        directory.mkdir(mode=0o700, parents=True)
    return agent_paths


def write_enrolment(paths: AgentPaths, url: str, ca_file: Path, device_id: uuid.UUID) -> None:
    """As 0.1.0 wrote it (the certificate file, no pins): the agent derives the pin."""
    document = {
        "vault_url": url,
        "ca_file": str(ca_file),
        "device_id": str(device_id),
        "agent": "alice",
        "vault_recipient": VaultIdentity.generate().recipient.to_text(),
    }
    paths.enrolment_file.write_text(json.dumps(document))
