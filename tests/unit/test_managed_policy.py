"""Managed policy backends: trusted files only, per-OS type conversion, macOS precedence (R22).

The tests run as root, so the files they write are root's; other owners come from os.chown.
"""

from __future__ import annotations

import os
import plistlib
import sys
from pathlib import Path
from typing import Any

import pytest

from agent.settings.layers import SettingSource, load_settings
from agent.settings.managed_policy import (
    DEFAULT_POLICY_FILE,
    MAX_POLICY_BYTES,
    REG_DWORD,
    REG_EXPAND_SZ,
    REG_MULTI_SZ,
    REG_QWORD,
    REG_SZ,
    MacManagedPreferences,
    ManagedSource,
    PolicyError,
    PolicyFile,
    WindowsRegistryPolicy,
    default_managed_source,
    no_managed_policy,
    registry_values_to_settings,
)

NOBODY = 65534

pytestmark = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0,
    reason="the ownership checks need files owned by root, so these tests run as root",
)


def policy_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "etc-callreel"
    directory.mkdir(mode=0o755)
    directory.chmod(0o755)
    return directory


def write_policy(tmp_path: Path, text: str, mode: int = 0o644) -> Path:
    path = policy_dir(tmp_path) / "policy.toml"
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


# --- PolicyFile -----------------------------------------------------------------------------


def test_missing_policy_file_means_no_managed_settings(tmp_path: Path) -> None:
    assert PolicyFile(tmp_path / "absent" / "policy.toml").read() == {}
    assert PolicyFile(policy_dir(tmp_path) / "policy.toml").read() == {}


def test_policy_file_is_read_as_toml(tmp_path: Path) -> None:
    path = write_policy(
        tmp_path, 'vault_url = "https://vault.example:8443"\nfps = 10\ndetectors = ["hook"]\n'
    )
    assert PolicyFile(path).read() == {
        "vault_url": "https://vault.example:8443",
        "fps": 10,
        "detectors": ["hook"],
    }
    assert str(path) in PolicyFile(path).describe()


@pytest.mark.parametrize("mode", [0o664, 0o646, 0o666])
def test_policy_file_writable_by_group_or_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = write_policy(tmp_path, "fps = 10\n", mode=mode)
    with pytest.raises(PolicyError, match="writable by group/others") as caught:
        PolicyFile(path).read()
    assert str(path) in str(caught.value)
    assert "chown root and chmod 644" in str(caught.value)


def test_policy_file_not_owned_by_root_is_refused(tmp_path: Path) -> None:
    path = write_policy(tmp_path, "fps = 10\n")
    os.chown(path, NOBODY, NOBODY)
    with pytest.raises(PolicyError, match=f"owned by uid {NOBODY}, not root"):
        PolicyFile(path).read()


def test_policy_directory_not_owned_by_root_is_refused(tmp_path: Path) -> None:
    path = write_policy(tmp_path, "fps = 10\n")
    os.chown(path.parent, NOBODY, NOBODY)
    with pytest.raises(PolicyError, match=r"directory of .* owned by uid 65534"):
        PolicyFile(path).read()


def test_policy_directory_writable_by_others_is_refused(tmp_path: Path) -> None:
    path = write_policy(tmp_path, "fps = 10\n")
    path.parent.chmod(0o777)
    with pytest.raises(PolicyError, match=r"directory of .* writable by group/others"):
        PolicyFile(path).read()


def test_symlink_to_a_file_someone_else_can_write_is_refused(tmp_path: Path) -> None:
    directory = policy_dir(tmp_path)
    target = tmp_path / "users-file.toml"
    target.write_text("notice_lead_time_s = 0.0\n", encoding="utf-8")
    target.chmod(0o644)
    os.chown(target, NOBODY, NOBODY)
    (directory / "policy.toml").symlink_to(target)
    with pytest.raises(PolicyError, match="not root"):
        PolicyFile(directory / "policy.toml").read()


def test_policy_file_that_is_not_a_regular_file_is_refused(tmp_path: Path) -> None:
    directory = policy_dir(tmp_path)
    os.mkfifo(directory / "policy.toml", 0o644)
    with pytest.raises(PolicyError, match="not a regular file"):
        PolicyFile(directory / "policy.toml").read()


def test_oversized_policy_file_is_refused(tmp_path: Path) -> None:
    path = write_policy(tmp_path, "# padding\n" * (MAX_POLICY_BYTES // 10 + 1))
    with pytest.raises(PolicyError, match="larger than 64 KiB"):
        PolicyFile(path).read()


def test_policy_file_that_is_not_toml_is_refused(tmp_path: Path) -> None:
    path = write_policy(tmp_path, "fps = = 10\n")
    with pytest.raises(PolicyError, match=r"not valid TOML.*ask IT to fix the policy"):
        PolicyFile(path).read()


def test_defaults_per_platform() -> None:
    assert no_managed_policy().read() == {}
    if sys.platform.startswith("linux"):
        source = default_managed_source()
        assert isinstance(source, PolicyFile)
        assert source.path == DEFAULT_POLICY_FILE == Path("/etc/callreel/policy.toml")


# --- Windows registry -----------------------------------------------------------------------


def test_registry_values_convert_to_settings_types() -> None:
    converted = registry_values_to_settings(
        [
            ("vault_url", REG_SZ, "https://vault.example"),
            ("consent_required", REG_DWORD, 1),
            ("personal_calls_allowed", REG_DWORD, 0),
            ("notice_lead_time_s", REG_SZ, "7.5"),
            ("consent_timeout_s", REG_DWORD, 45),
            ("upload_limit_kbps", REG_DWORD, 800),
            ("spool_max_mb", REG_QWORD, 10_000),
            ("detectors", REG_MULTI_SZ, ["hook", "baresip"]),
        ]
    )
    assert converted == {
        "vault_url": "https://vault.example",
        "consent_required": True,
        "personal_calls_allowed": False,
        "notice_lead_time_s": 7.5,
        "consent_timeout_s": 45.0,
        "upload_limit_kbps": 800,
        "spool_max_mb": 10_000,
        "detectors": ("hook", "baresip"),
    }
    assert converted["consent_required"] is True
    assert isinstance(converted["consent_timeout_s"], float)


def test_registry_text_as_the_msi_writes_it_converts_for_every_kind() -> None:
    converted = registry_values_to_settings(
        [
            ("consent_required", REG_SZ, "true"),
            ("personal_calls_allowed", REG_SZ, "false"),
            ("upload_limit_kbps", REG_SZ, "800"),
            ("consent_timeout_s", REG_SZ, "45"),
            ("detectors", REG_SZ, "hook, baresip"),
        ]
    )
    assert converted == {
        "consent_required": True,
        "personal_calls_allowed": False,
        "upload_limit_kbps": 800,
        "consent_timeout_s": 45.0,
        "detectors": ("hook", "baresip"),
    }


@pytest.mark.parametrize(
    ("name", "reg_type", "raw", "expected"),
    [
        ("consent_required", REG_DWORD, 2, "REG_DWORD 0 \\(false\\) or 1 \\(true\\)"),
        ("consent_required", REG_SZ, "yes", "REG_DWORD 0"),
        ("notice_lead_time_s", REG_SZ, "ten", "REG_SZ text such as 7.5"),
        ("upload_limit_kbps", REG_SZ, "800 kbps", "REG_DWORD or REG_QWORD"),
        ("vault_url", REG_DWORD, 1, "REG_SZ text"),
        ("vault_url", REG_EXPAND_SZ, "%VAULT%", "REG_SZ text"),
        ("detectors", REG_MULTI_SZ, "hook", "REG_MULTI_SZ"),
    ],
)
def test_registry_values_of_the_wrong_type_are_refused(
    name: str, reg_type: int, raw: object, expected: str
) -> None:
    with pytest.raises(PolicyError, match=expected) as caught:
        registry_values_to_settings([(name, reg_type, raw)])
    message = str(caught.value)
    assert name in message
    assert "HKLM\\SOFTWARE\\Policies\\Callreel\\Agent" in message
    assert "ask IT to fix the policy" in message


class RegistryValues(ManagedSource):
    """What WindowsRegistryPolicy gives after reading these values, on any platform."""

    def __init__(self, values: list[tuple[str, int, object]]) -> None:
        self.values = values

    def read(self) -> dict[str, object]:
        return registry_values_to_settings(self.values)

    def describe(self) -> str:
        return "test registry values"


def test_registry_policy_applies_and_unknown_value_names_fail_closed(tmp_path: Path) -> None:
    effective = load_settings(
        tmp_path / "agent.toml",
        RegistryValues([("consent_required", REG_DWORD, 1), ("fps", REG_SZ, "2.5")]),
    )
    assert effective.values.consent_required is True
    assert effective.values.fps == 2.5
    assert effective.source_of("fps") is SettingSource.MANAGED
    with pytest.raises(PolicyError, match=r"unknown setting 'fsp'.*did you mean 'fps'"):
        load_settings(tmp_path / "agent.toml", RegistryValues([("fsp", REG_SZ, "2.5")]))


@pytest.mark.skipif(sys.platform == "win32", reason="checks the refusal off Windows")
def test_registry_policy_off_windows_says_so() -> None:
    with pytest.raises(PolicyError, match="only be read on Windows"):
        WindowsRegistryPolicy().read()


# --- macOS managed preferences --------------------------------------------------------------


def write_plist(
    path: Path, values: dict[str, Any] | list[Any], fmt: plistlib.PlistFormat = plistlib.FMT_XML
) -> None:
    path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    path.parent.chmod(0o755)
    path.write_bytes(plistlib.dumps(values, fmt=fmt))
    path.chmod(0o644)


def mac_files(root: Path) -> tuple[Path, Path]:
    base = root / "Library" / "Managed Preferences"
    return base / "alice" / "com.callreel.agent.plist", base / "com.callreel.agent.plist"


def test_mac_without_managed_preferences_has_no_settings(tmp_path: Path) -> None:
    assert MacManagedPreferences("alice", root=tmp_path).read() == {}


def test_mac_user_preferences_win_over_computer_preferences(tmp_path: Path) -> None:
    user_file, computer_file = mac_files(tmp_path)
    write_plist(computer_file, {"fps": 10.0, "consent_required": True, "detectors": ["hook"]})
    write_plist(user_file, {"fps": 2.0, "microphone": "Headset"}, fmt=plistlib.FMT_BINARY)
    source = MacManagedPreferences("alice", root=tmp_path)
    assert source.read() == {
        "fps": 2.0,
        "consent_required": True,
        "detectors": ("hook",),
        "microphone": "Headset",
    }
    effective = load_settings(tmp_path / "agent.toml", source)
    assert effective.values.fps == 2.0
    assert effective.values.detectors == ("hook",)
    assert effective.source_of("microphone") is SettingSource.MANAGED


def test_mac_computer_preferences_alone_apply(tmp_path: Path) -> None:
    _, computer_file = mac_files(tmp_path)
    write_plist(computer_file, {"upload_limit_kbps": 300})
    assert MacManagedPreferences("bob", root=tmp_path).read() == {"upload_limit_kbps": 300}


def test_mac_preferences_someone_else_can_write_are_refused(tmp_path: Path) -> None:
    user_file, _ = mac_files(tmp_path)
    write_plist(user_file, {"fps": 2.0})
    os.chown(user_file, NOBODY, NOBODY)
    with pytest.raises(PolicyError, match="not root"):
        MacManagedPreferences("alice", root=tmp_path).read()


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"not a plist", "not a valid plist"), (plistlib.dumps(["fps"]), "not a dictionary")],
)
def test_mac_preferences_that_are_not_a_settings_dictionary_are_refused(
    tmp_path: Path, content: bytes, message: str
) -> None:
    _, computer_file = mac_files(tmp_path)
    write_plist(computer_file, {})
    computer_file.write_bytes(content)
    with pytest.raises(PolicyError, match=f"{message}.*ask IT to fix the policy"):
        MacManagedPreferences("alice", root=tmp_path).read()
