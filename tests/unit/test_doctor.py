"""`callreel-agent doctor`'s checks that need no real component: the display variables,
the whitelist and detectors as settings give them, enrolment files, spools and permissions
(the rest, against Xvfb, PulseAudio and a vault: tests/integration/test_doctor.py)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from agent.doctor.audio import check_detectors
from agent.doctor.desktop import check_display, check_window
from agent.doctor.files import check_permissions, check_spool
from agent.doctor.vault import check_vault
from agent.paths import AgentPaths
from agent.settings.fields import AgentSettings
from agent.spool.spool import Spool
from protocol.keys import VaultIdentity
from protocol.segments.format import MediaType
from protocol.segments.seal import RecordingSealer
from protocol.signing import DeviceKey
from tests.helpers.doctor import by_name, private_agent_paths, write_enrolment

ROOT_OWNED_0644 = Path("/etc/passwd")


"""A root-owned, mode 0644 file on every Linux system: a well-kept policy file's shape."""


@pytest.fixture
def paths(tmp_path: Path) -> AgentPaths:
    return private_agent_paths(tmp_path)


def sealed_segment() -> bytes:
    sealer = RecordingSealer(VaultIdentity.generate().recipient, uuid.uuid4())
    return sealer.seal(0, MediaType.MP4, b"not really video" * 100)


def test_a_wayland_only_session_fails_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    [result] = check_display()
    assert result.status == "fail"
    assert "Wayland-only" in result.detail
    assert "X11 or XWayland" in result.detail


def test_no_whitelist_means_nothing_to_record() -> None:
    result = check_window(AgentSettings())
    assert result.status == "fail"
    assert result.fix == (
        "nothing to record: set window_title_pattern/window_executable/window_class in the"
        " managed policy"
    )


def test_an_invalid_title_pattern_is_refused_with_the_settings() -> None:
    # The settings check refuses it before any check runs (the doctor command then reports
    # "FAIL  settings: ..." with the policy's file and the fix).
    with pytest.raises(ValueError, match="regular expression"):
        AgentSettings(window_title_pattern="(unclosed")


def test_no_detector_and_unusable_detectors_fail() -> None:
    # No detector and an unknown one are refused with the settings, before any check runs.
    with pytest.raises(ValueError, match="at least one detector"):
        AgentSettings(detectors=())
    with pytest.raises(ValueError, match="unknown detector"):
        AgentSettings(detectors=("windows-mic", "carrier-pigeon"))
    results = by_name(check_detectors(AgentSettings(detectors=("windows-mic",))))
    assert results["detector-windows-mic"].status == "fail"


def test_not_enrolled_and_embedded_vault(paths: AgentPaths) -> None:
    results = by_name(check_vault(AgentSettings(vault_url="https://vault.example:8443"), paths))
    assert results["enrolment"].status == "fail"
    assert "callreel-agent enrol" in results["enrolment"].fix
    [embedded] = check_vault(AgentSettings(), paths)
    assert embedded.status == "ok"
    assert str(paths.local_vault_dir) in embedded.detail


def test_a_device_key_readable_by_others_fails(tmp_path: Path, paths: AgentPaths) -> None:
    key = DeviceKey.generate()
    key.save(paths.device_key_file)
    write_enrolment(paths, "https://127.0.0.1:1", tmp_path / "ca.pem", uuid.uuid4())
    paths.device_key_file.chmod(0o644)
    results = by_name(check_vault(AgentSettings(vault_url="https://127.0.0.1:1"), paths))
    assert results["enrolment"].status == "fail"
    assert "chmod 600" in results["enrolment"].fix
    permissions = by_name(check_permissions(paths, ROOT_OWNED_0644))
    assert permissions["device-key"].status == "fail"
    assert permissions["device-key"].fix == f"chmod 600 {paths.device_key_file}"


def test_the_spool_backlog_is_reported_and_a_held_spool_is_fine(paths: AgentPaths) -> None:
    with Spool(paths.spool_dir) as spool:
        spool.put(sealed_segment())
        held = by_name(check_spool(AgentSettings(), paths))
        assert held["spool-backlog"].status == "ok"
        assert "the running agent holds" in held["spool-backlog"].detail
    # Closed mid-recording, as a killed agent leaves it: opening recovers and says so.
    results = by_name(check_spool(AgentSettings(), paths))
    assert results["spool"].status == "ok", results["spool"]
    assert results["disk-space"].status in ("ok", "warn")
    recovered = results["spool-backlog"]
    assert recovered.status == "warn"
    assert "recovered after an unclean stop (recordings interrupted: 1)" in recovered.detail
    backlog = by_name(check_spool(AgentSettings(), paths))["spool-backlog"]
    assert backlog.status == "ok"
    assert backlog.detail.startswith("1 segments (0.0 MiB) waiting")


def test_a_spool_others_can_enter_fails(paths: AgentPaths, tmp_path: Path) -> None:
    spool_dir = tmp_path / "shared-spool"
    spool_dir.mkdir(mode=0o755)
    spool_dir.chmod(0o755)
    result = by_name(check_spool(AgentSettings(spool_dir=str(spool_dir)), paths))["spool"]
    assert result.status == "fail"
    assert "755" in result.detail
    assert result.fix == f"chmod 700 {spool_dir}"


def test_directory_and_policy_permissions(paths: AgentPaths, tmp_path: Path) -> None:
    assert {r.status for r in check_permissions(paths, ROOT_OWNED_0644)} == {"ok"}

    paths.data_dir.chmod(0o750)
    policy = tmp_path / "policy.toml"
    policy.write_text('window_title_pattern = "^CRM"\n')
    policy.chmod(0o664)
    results = by_name(check_permissions(paths, policy))
    assert results["data-dir"].status == "fail"
    assert results["data-dir"].fix == f"chmod 700 {paths.data_dir}"
    assert results["policy-file"].status == "fail"
    assert "writable by group or others" in results["policy-file"].detail
    if os.getuid() == 0:
        assert "owned by" not in results["policy-file"].detail
        os.chown(policy, 65534, 65534)
        policy.chmod(0o644)
        owned = by_name(check_permissions(paths, policy))["policy-file"]
        assert "owned by uid 65534, not root" in owned.detail
    else:
        assert f"owned by uid {os.getuid()}, not root" in results["policy-file"].detail
    assert "sudo chown root:root" in results["policy-file"].fix
