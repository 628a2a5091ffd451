"""The agent's MSI as IT would use it: its tables, its signature, and under Wine a silent
install with policy properties, the installed agent reading them through its own registry
settings source, an upgrade that keeps them, and an uninstall that removes everything.

Wine 8 (Debian 12) lacks bcryptprimitives.dll, which Rust extension modules (pydantic-core,
cryptography) need, so the agent's commands that load those do not run here; `settings show`
loads neither. The release workflow runs `doctor` on a real Windows runner.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from installers.policy.settings_view import policy_settings
from installers.windows.wix import (
    POLICY_KEY,
    RUN_KEY,
    RUN_VALUE,
    UPGRADE_CODE,
    WINDOWED_LAUNCHER,
    keep_action_name,
    previous_property_name,
    property_name,
)
from tests.installers.conftest import REPOSITORY, built, run

TEST_CERTIFICATE = REPOSITORY / "build" / "installers" / "agent-msi" / "test-signing.pem"
INSTALLED = r"C:\Program Files\Callreel\Agent"
UNINSTALL_KEY = r"SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall"
TOKEN = "crf_" + "k" * 32


def _table(msi: Path, name: str) -> list[list[str]]:
    """The rows of one table (msiinfo export: names, types and keys first)."""
    exported = run("msiinfo", "export", str(msi), name)
    return [line.split("\t") for line in exported.splitlines()[3:] if line]


@pytest.fixture(scope="module")
def msi() -> Path:
    return built("callreel-agent-*-x64.msi")


def test_every_setting_is_a_secure_property_written_only_when_given(msi: Path) -> None:
    properties = dict(row[:2] for row in _table(msi, "Property"))
    assert properties["UpgradeCode"] == UPGRADE_CODE
    assert properties["ALLUSERS"] == "1"  # per machine
    secure = properties["SecureCustomProperties"].split(";")
    hidden = properties["MsiHiddenProperties"].split(";")
    registry = {row[3]: row for row in _table(msi, "Registry")}
    components = {row[0]: row for row in _table(msi, "Component")}
    for setting in policy_settings():
        name = setting.name
        assert property_name(name) in secure
        assert previous_property_name(name) in secure
        assert (property_name(name) in hidden) == setting.spec.secret
        _, root, key, _, value, component = registry[name]
        assert (root, key, value) == ("2", POLICY_KEY, f"[{property_name(name)}]")
        assert components[component][4] == property_name(name)  # its Condition
    sequence = {row[0]: int(row[2]) for row in _table(msi, "InstallExecuteSequence")}
    for setting in policy_settings():  # kept values are set before costing reads conditions
        assert sequence["AppSearch"] < sequence[keep_action_name(setting.name)] < 100
    assert "ENROLL_TOKEN" in secure
    assert "ENROLL_TOKEN" in hidden
    searches = {row[0] for row in _table(msi, "AppSearch")}
    assert {previous_property_name(s.name) for s in policy_settings()} <= searches


def test_it_starts_the_windowed_launcher_at_logon_for_every_user(msi: Path) -> None:
    run_entry = next(row for row in _table(msi, "Registry") if row[3] == RUN_VALUE)
    assert run_entry[1:3] == ["2", RUN_KEY]  # HKLM: every user
    assert run_entry[4] == f'"[INSTALLDIR]{WINDOWED_LAUNCHER}" run'
    files = {row[2] for row in _table(msi, "File")}
    assert {"callreel-agent.exe", WINDOWED_LAUNCHER, "python313.dll", "python313._pth"} <= files
    assert {"cli.py", "managed_policy.py"} <= files


def test_the_msi_is_signed(msi: Path) -> None:
    report = run(
        "osslsigncode", "verify", "-CAfile", str(TEST_CERTIFICATE), "-in", str(msi), check=False
    )
    assert "Signature verification: ok" in report, report[-2000:]


@dataclass
class Wine:
    prefix: Path

    def __call__(self, *command: str, check: bool = True) -> str:
        environment = {
            **os.environ,
            "WINEPREFIX": str(self.prefix),
            "WINEARCH": "win64",
            "WINEDEBUG": "-all",
            "DISPLAY": "",
        }
        done = subprocess.run(
            ["wine", *command],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=environment,
            timeout=600,
            check=False,
        )
        if check and done.returncode != 0:
            pytest.fail(
                f"wine {' '.join(command)} exited {done.returncode}:\n{done.stdout[-3000:]}"
                f"\n{done.stderr[-3000:]}",
                pytrace=False,
            )
        return done.stdout

    def registry(self, key: str) -> dict[str, str]:
        shown = self("reg", "query", f"HKLM\\{key}", check=False)
        # `reg query` lines: four spaces, the name (which may hold spaces), four spaces, type...
        rows = (re.match(r" {4}(.+?) {4}(REG_\w+) {4}(.*)$", line) for line in shown.splitlines())
        return {row[1]: row[3] for row in rows if row}

    def installed_versions(self) -> list[str]:
        """DisplayVersion of every installed product named Callreel agent."""
        shown = self("reg", "query", f"HKLM\\{UNINSTALL_KEY}", "/s")
        versions = []
        for block in re.split(r"\n(?=HKEY_)", shown):
            if re.search(r" {4}DisplayName {4}REG_SZ {4}Callreel agent$", block, re.M):
                versions += re.findall(r" {4}DisplayVersion {4}REG_SZ {4}(\S+)", block)
        return versions

    def msiexec(self, *arguments: str, log: Path) -> str:
        self("msiexec", *arguments, "/qn", "/l*v", f"Z:{log}")
        # Wine writes the log in the ANSI code page (Windows in UTF-16); only ASCII is read.
        return log.read_bytes().decode("ascii", errors="replace")

    def host_path(self, windows_path: str) -> Path:
        return self.prefix / "drive_c" / windows_path[3:].replace("\\", "/")


@pytest.fixture(scope="module")
def wine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Wine]:
    if shutil.which("wine") is None:
        pytest.fail("wine is missing: installers/check needs apt-get install wine wine64")
    prefix = tmp_path_factory.mktemp("wine") / "prefix"
    made = Wine(prefix)
    made("wineboot", "--init")
    yield made
    subprocess.run(["wineserver", "-k"], env={**os.environ, "WINEPREFIX": str(prefix)}, check=False)


def _newer_build(msi: Path, target: Path) -> Path:
    """The same MSI as version 0.1.1 with its own product and package codes: what the next
    release's build is to Windows Installer (a major upgrade)."""
    shutil.copyfile(msi, target)
    for query in (
        "UPDATE `Property` SET `Value` = '0.1.1' WHERE `Property` = 'ProductVersion'",
        # The Upgrade table as wixl writes it for 0.1.1 (its versions are part of the key).
        "DELETE FROM `Upgrade`",
        "INSERT INTO `Upgrade` (`UpgradeCode`, `VersionMax`, `Attributes`, `ActionProperty`)"  # noqa: S608
        f" VALUES ('{UPGRADE_CODE}', '0.1.1', 1, 'WIX_UPGRADE_DETECTED')",
        "INSERT INTO `Upgrade` (`UpgradeCode`, `VersionMin`, `Attributes`, `ActionProperty`)"  # noqa: S608
        f" VALUES ('{UPGRADE_CODE}', '0.1.1', 2, 'WIX_DOWNGRADE_DETECTED')",
        f"UPDATE `Property` SET `Value` = '{{{str(uuid.uuid4()).upper()}}}'"  # noqa: S608
        " WHERE `Property` = 'ProductCode'",
    ):
        run("msibuild", str(target), "-q", query)
    run("msibuild", str(target), "-s", "Callreel agent", "Callreel", "x64;1033",
        f"{{{str(uuid.uuid4()).upper()}}}")  # fmt: skip
    return target


def test_silent_install_upgrade_and_uninstall_under_wine(
    msi: Path, wine: Wine, tmp_path: Path
) -> None:
    log = wine.msiexec(
        # ENROLL_TOKEN: the other spelling, which the MSI also takes for ENROLMENT_TOKEN.
        "/i", f"Z:{msi}", "VAULT_URL=https://vault.example:8443", f"ENROLL_TOKEN={TOKEN}",
        "CONSENT_REQUIRED=true", "DETECTORS=hook,baresip", "UPLOAD_LIMIT_KBPS=800",
        log=tmp_path / "install.log",
    )  # fmt: skip
    assert "INSTALL. Return value 1." in log  # 1: success
    policy = wine.registry(POLICY_KEY)
    assert policy == {
        "vault_url": "https://vault.example:8443",
        "enrolment_token": TOKEN,
        "consent_required": "true",
        "detectors": "hook,baresip",
        "upload_limit_kbps": "800",
    }  # and nothing for the settings not given
    run_entry = wine.registry(RUN_KEY)[RUN_VALUE]
    launcher = run_entry.split('"')[1]
    assert launcher == f"{INSTALLED}\\{WINDOWED_LAUNCHER}"
    assert wine.host_path(launcher).is_file()

    # The installed agent reads the policy through its own Windows registry source.
    shown = wine(f"{INSTALLED}\\callreel-agent.exe", "settings", "show")
    lines = {line.split()[0]: line for line in shown.splitlines() if line.strip()}
    assert "https://vault.example:8443" in lines["vault_url"]
    assert "managed (locked)" in lines["vault_url"]
    assert "(set, not shown)" in lines["enrolment_token"]
    assert TOKEN not in shown
    assert "managed (locked)" in lines["consent_required"]
    assert "hook,baresip" in lines["detectors"]
    assert "800" in lines["upload_limit_kbps"]
    assert "default" in lines["fps"]
    assert "registry key HKLM\\SOFTWARE\\Policies\\Callreel\\Agent" in shown

    newer = _newer_build(msi, tmp_path / "callreel-agent-0.1.1-x64.msi")
    wine.msiexec(
        "/i", f"Z:{newer}", "VAULT_URL=https://vault2.example:8443",
        log=tmp_path / "upgrade.log",
    )  # fmt: skip
    # What the upgrade was given replaces the installed value; the rest is kept.
    assert wine.registry(POLICY_KEY) == {**policy, "vault_url": "https://vault2.example:8443"}
    assert wine.installed_versions() == ["0.1.1"]  # replaced, not installed side by side

    removal = wine.msiexec("/x", f"Z:{newer}", log=tmp_path / "uninstall.log")
    assert wine.registry(POLICY_KEY) == {}
    assert RUN_VALUE not in wine.registry(RUN_KEY)
    assert not wine.host_path(INSTALLED).exists()
    assert r"%LOCALAPPDATA%\callreel\spool" in removal  # where each user's spool stays
