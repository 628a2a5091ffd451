"""The release workflow cannot run here (it needs GitHub's Windows and macOS runners), so it is
checked as far as it can be: GitHub's workflow schema, the jobs it names, its actions pinned
to a major version, and every bash step parsed by bash."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

WORKFLOWS = Path(__file__).resolve().parents[2] / ".github" / "workflows"
RELEASE = WORKFLOWS / "release.yml"


def _workflow() -> dict[str, Any]:
    loaded = yaml.safe_load(RELEASE.read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_every_workflow_matches_githubs_schema() -> None:
    checker = Path(sys.executable).with_name("check-jsonschema")
    done = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.github-workflows",
         *map(str, sorted(WORKFLOWS.glob("*.yml")))],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_release_builds_on_linux_then_installs_on_windows_and_macos() -> None:
    jobs = _workflow()["jobs"]
    assert jobs["windows"]["runs-on"] == "windows-latest"
    assert jobs["macos"]["runs-on"] == "macos-latest"
    assert jobs["windows"]["needs"] == jobs["macos"]["needs"] == "linux"
    linux_steps = " ".join(step.get("run", "") for step in jobs["linux"]["steps"])
    assert "installers/check" in linux_steps
    windows_steps = " ".join(step.get("run", "") for step in jobs["windows"]["steps"])
    for expected in ("/qn", "VAULT_URL=", "callreel-agentw.exe", "doctor", "'/x'"):
        assert expected in windows_steps


def test_actions_are_pinned_to_a_major_version() -> None:
    for job in _workflow()["jobs"].values():
        for step in job["steps"]:
            if "uses" in step:
                version = step["uses"].partition("@")[2]
                assert version.startswith("v"), step["uses"]
                assert version[1:].isdigit(), step["uses"]


@pytest.mark.parametrize("job", ["linux", "macos"])
def test_every_bash_step_parses(job: str) -> None:
    bash = shutil.which("bash")
    assert bash is not None
    for step in _workflow()["jobs"][job]["steps"]:
        if "run" in step and step.get("shell", "bash") == "bash":
            done = subprocess.run(
                [bash, "-n"], input=step["run"], capture_output=True, text=True, check=False
            )
            assert done.returncode == 0, f"{step.get('name')}: {done.stderr}"
