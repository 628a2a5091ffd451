"""The agent's .deb as IT installs it: lintian-clean, installed with apt, autostart and policy
in place, the installed agent runs its checks, and remove keeps an edited policy while purge
removes it."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.installers.conftest import (
    assert_lintian_clean,
    built,
    install,
    installed_package,
    installed_version,
    run,
)

PACKAGE = "callreel-agent"
POLICY = Path("/etc/callreel/policy.toml")
AUTOSTART = Path("/etc/xdg/autostart/callreel-agent.desktop")


@pytest.fixture
def deb() -> Path:
    return built("callreel-agent_*.deb")


@pytest.fixture
def installed(deb: Path) -> Iterator[Path]:
    with installed_package(deb, PACKAGE):
        yield deb


def test_lintian_finds_nothing_to_report(deb: Path) -> None:
    assert_lintian_clean(deb)


def test_installed_the_agent_starts_at_login_under_a_root_owned_policy(installed: Path) -> None:
    assert installed_version(PACKAGE) is not None
    for path in (POLICY, AUTOSTART):
        info = path.stat()
        assert info.st_uid == 0, path
        assert stat.S_IMODE(info.st_mode) == 0o644, path
    assert stat.S_IMODE(POLICY.parent.stat().st_mode) == 0o755
    run("desktop-file-validate", str(AUTOSTART))
    assert "Exec=callreel-agent run" in AUTOSTART.read_text()
    conffiles = run("dpkg-query", "-W", "-f", "${Conffiles}", PACKAGE)
    assert str(POLICY) in conffiles
    assert str(AUTOSTART) in conffiles


def test_the_installed_agent_reads_the_policy_and_reports(installed: Path, tmp_path: Path) -> None:
    POLICY.write_text(POLICY.read_text() + '\nvault_url = "https://vault.example.com:8443"\n')
    shown = run("callreel-agent", "settings", "show", "--config-dir", str(tmp_path / "config"))
    assert "https://vault.example.com:8443" in shown
    env = {key: value for key, value in os.environ.items() if key != "DISPLAY"}
    report = run(
        "callreel-agent", "doctor", "--json", "--root", str(tmp_path), check=False, env=env
    )
    results = json.loads(report[report.index("[") :])
    checks = {result["name"]: result for result in results}
    assert all(result["status"] in {"ok", "warn", "fail"} for result in results), results
    # It ran with the installed policy, and says what is wrong on this display-less machine.
    assert any("vault.example.com" in result["detail"] for result in results), results
    assert any(result["status"] == "fail" and result["fix"] for result in results), checks


def test_remove_keeps_an_edited_policy_and_purge_removes_it(deb: Path) -> None:
    install(deb)
    try:
        POLICY.write_text(POLICY.read_text() + "\nconsent_required = true\n")
        run("dpkg", "--remove", PACKAGE)
        assert installed_version(PACKAGE) is None
        assert not Path("/usr/bin/callreel-agent").exists()
        assert not Path("/usr/lib/callreel-agent").exists(), "bytecode left behind"
        assert "consent_required = true" in POLICY.read_text()
    finally:
        run("dpkg", "--purge", PACKAGE)
    assert not POLICY.exists()
    assert not AUTOSTART.exists()
