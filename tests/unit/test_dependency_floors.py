"""The vault's web stack and the build tools are pinned past their known advisories, and the
environment the tests run in has versions at least that new (scripts/audit checks for newer
advisories against a live feed; CI does not depend on one)."""

from __future__ import annotations

import tomllib
from importlib import metadata

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from tests.helpers.data import REPO_ROOT

FIXED_IN = {
    "starlette": "0.49.1",  # CVE-2025-62727 (and CVE-2025-54121, CVE-2024-47874 before it)
    "h11": "0.16",  # CVE-2025-43859
    "urllib3": "2.5",  # CVE-2025-50181, CVE-2025-50182
}
BUILD_FIXED_IN = {"setuptools": "78.1.1"}  # CVE-2025-47273


def _project() -> dict[str, object]:
    with (REPO_ROOT / "pyproject.toml").open("rb") as handle:
        return tomllib.load(handle)


def _floor(requirements: list[str], name: str) -> Version:
    for text in requirements:
        requirement = Requirement(text)
        if requirement.name.lower() == name:
            floors = [Version(s.version) for s in requirement.specifier if s.operator == ">="]
            assert floors, f"{name} has no lower bound in pyproject.toml"
            return max(floors)
    raise AssertionError(f"{name} is not declared in pyproject.toml")


@pytest.mark.parametrize(("name", "fixed"), FIXED_IN.items())
def test_the_vault_requires_versions_past_the_advisories(name: str, fixed: str) -> None:
    vault_extra = _project()["project"]["optional-dependencies"]["vault"]  # type: ignore[index]
    assert _floor(vault_extra, name) >= Version(fixed)
    assert Version(metadata.version(name)) >= Version(fixed), f"installed {name} is older"


@pytest.mark.parametrize(("name", "fixed"), BUILD_FIXED_IN.items())
def test_the_build_requires_tools_past_the_advisories(name: str, fixed: str) -> None:
    build = _project()["build-system"]["requires"]  # type: ignore[index]
    assert _floor(build, name) >= Version(fixed)
