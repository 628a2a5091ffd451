"""`callreel-agent doctor` against real components: Xvfb + openbox (and trayer), xterm, the
private PulseAudio, a real vault over HTTPS, real spools and files."""

from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.capture.audio.devices import alsa_top_level_config
from agent.commands.doctor import add_doctor_parser, run_doctor
from agent.doctor.audio import check_audio, check_detectors
from agent.doctor.desktop import check_display, check_window
from agent.doctor.files import check_permissions, check_spool
from agent.doctor.result import CheckResult
from agent.doctor.vault import check_vault
from agent.paths import AgentPaths
from agent.settings.fields import AgentSettings
from agent.spool.spool import Spool
from agent.vault_connection.client import enrol
from protocol.keys import VaultIdentity
from protocol.pinned_tls import CERT_FILENAME
from protocol.segments.format import MediaType
from protocol.segments.seal import RecordingSealer
from protocol.signing import DeviceKey
from tests.desktop import Desktop, XServer, require_program, wait_for
from tests.processes import stop_processes
from tests.pulse import PulseServer
from tests.vault_harness import VaultUnderTest, running_vault
from vault import devices
from vault.roles import Role
from vault.tls import ensure_certificate

ROOT_OWNED_0644 = Path("/etc/passwd")
"""A root-owned, mode 0644 file on every Linux system: a well-kept policy file's shape."""


def by_name(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {result.name: result for result in results}


def use_pulse(monkeypatch: pytest.MonkeyPatch, server: PulseServer) -> None:
    # Restored afterwards: the doctor adds Callreel's ALSA file to this process's path.
    monkeypatch.setenv("ALSA_CONFIG_PATH", alsa_top_level_config())
    for name, value in server.env.items():
        if os.environ.get(name) != value:
            monkeypatch.setenv(name, value)


# -- display, window manager, tray, window --------------------------------------------------


@pytest.fixture
def trayer(x_display: XServer) -> Iterator[None]:
    process = subprocess.Popen(
        [require_program("trayer"), "--SetDockType", "true"],
        env={**os.environ, "DISPLAY": x_display.display},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield
    finally:
        stop_processes([process])


def test_the_tray_check_warns_without_a_tray_host_and_passes_with_one(
    x_display: XServer, request: pytest.FixtureRequest
) -> None:
    results = by_name(check_display())
    assert results["display"].status == "ok"
    assert x_display.display in results["display"].detail
    assert results["window-manager"].status == "ok"
    assert "Openbox" in results["window-manager"].detail
    tray = results["tray"]
    assert tray.status == "warn"
    assert "tray icon" in tray.detail
    assert "_NET_SYSTEM_TRAY_S0" in tray.detail
    assert "enable a system tray" in tray.fix

    request.getfixturevalue("trayer")
    tray = wait_for(
        lambda: (found := by_name(check_display())["tray"]).status == "ok" and found,
        what="trayer to own the tray selection",
        timeout=10,
    )
    assert tray.fix == ""


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


def test_the_whitelisted_xterm_is_found_when_open_and_warned_about_when_not(
    desktop: Desktop,
) -> None:
    title = f"CRM doctor {uuid.uuid4().hex[:8]}"
    config = AgentSettings(window_title_pattern=f"^{title}$")
    missing = check_window(config)
    assert missing.status == "warn"
    assert "may just not be open" in missing.detail
    assert missing.fix

    spawned = desktop.spawn_xterm(title=title)
    found = check_window(config)
    assert found.status == "ok", found
    assert repr(title) in found.detail
    assert f"{spawned.window_id:#x}" in found.detail


def test_an_invalid_title_pattern_is_refused_with_the_settings() -> None:
    # The settings check refuses it before any check runs (the doctor command then reports
    # "FAIL  settings: ..." with the policy's file and the fix).
    with pytest.raises(ValueError, match="regular expression"):
        AgentSettings(window_title_pattern="(unclosed")


# -- audio and detectors --------------------------------------------------------------------


def test_named_audio_devices_resolve_through_the_private_pulseaudio(
    pulse_server: PulseServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_pulse(monkeypatch, pulse_server)
    results = by_name(
        check_audio(AgentSettings(microphone="callreel_mic", far_end="callreel_farend"))
    )
    assert results["portaudio"].status == "ok"
    assert results["microphone"].status == "ok", results["microphone"]
    assert "'callreel_mic' resolves to 'callreel_mic'" in results["microphone"].detail
    assert results["far-end"].status == "ok", results["far-end"]
    assert "'callreel_farend' resolves to 'callreel_farend'" in results["far-end"].detail


def test_default_audio_devices_are_named(
    pulse_server: PulseServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_pulse(monkeypatch, pulse_server)
    results = by_name(check_audio(AgentSettings()))
    assert results["microphone"].status == "ok", results["microphone"]
    assert results["microphone"].detail.startswith("default: ")
    assert results["far-end"].status == "ok", results["far-end"]
    assert "'callreel_default_monitor'" in results["far-end"].detail


def test_a_missing_named_device_fails_and_lists_the_inputs(
    pulse_server: PulseServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_pulse(monkeypatch, pulse_server)
    results = by_name(check_audio(AgentSettings(microphone="no such headset")))
    microphone = results["microphone"]
    assert microphone.status == "fail"
    assert "'no such headset'" in microphone.detail
    assert "set microphone in the policy to one of:" in microphone.fix
    assert "callreel_mic" in microphone.fix


def test_the_pulse_detector_needs_a_sound_server(
    pulse_server: PulseServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use_pulse(monkeypatch, pulse_server)
    result = by_name(check_detectors(AgentSettings(detectors=("pulse",))))["detector-pulse"]
    assert result.status == "ok", result
    assert "pulseaudio" in result.detail.lower()

    monkeypatch.setenv("PULSE_SERVER", f"unix:{tmp_path / 'no-server'}")
    result = by_name(check_detectors(AgentSettings(detectors=("pulse",))))["detector-pulse"]
    assert result.status == "fail"
    assert "no PulseAudio/PipeWire server answers" in result.detail
    assert "pipewire-pulse" in result.fix


def test_the_baresip_detector_needs_its_ctrl_tcp_socket() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        config = AgentSettings(detectors=("baresip",), baresip_ctrl_address=f"127.0.0.1:{port}")
        result = by_name(check_detectors(config))["detector-baresip"]
        assert result.status == "ok", result
    result = by_name(check_detectors(config))["detector-baresip"]
    assert result.status == "fail"
    assert f"127.0.0.1:{port}" in result.detail
    assert "ctrl_tcp_listen" in result.fix


def test_no_detector_and_unusable_detectors_fail() -> None:
    # No detector and an unknown one are refused with the settings, before any check runs.
    with pytest.raises(ValueError, match="at least one detector"):
        AgentSettings(detectors=())
    with pytest.raises(ValueError, match="unknown detector"):
        AgentSettings(detectors=("windows-mic", "carrier-pigeon"))
    results = by_name(check_detectors(AgentSettings(detectors=("windows-mic",))))
    assert results["detector-windows-mic"].status == "fail"


# -- vault ----------------------------------------------------------------------------------


def vault_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "vault"
    directory.mkdir(exist_ok=True)
    return directory


def enrol_here(vault: VaultUnderTest, paths: AgentPaths, ca_file: Path) -> uuid.UUID:
    """Enrol this 'machine' through the real API and keep what the agent keeps."""
    vault.add_person("alice", Role.AGENT)
    token = devices.issue_enrol_token(vault.ctx.engine, "alice", by="test", now=vault.ctx.clock())
    key = DeviceKey.generate()
    enrolled = enrol(vault.client, token, key, "doctor-pc")
    key.save(paths.device_key_file)
    write_enrolment(paths, str(vault.client.base_url), ca_file, enrolled.device_id)
    return enrolled.device_id


def write_enrolment(paths: AgentPaths, url: str, ca_file: Path, device_id: uuid.UUID) -> None:
    document = {
        "vault_url": url,
        "ca_file": str(ca_file),
        "device_id": str(device_id),
        "agent": "alice",
        "vault_recipient": "unused-by-doctor",
    }
    paths.enrolment_file.write_text(json.dumps(document))


@pytest.fixture
def paths(tmp_path: Path) -> AgentPaths:
    agent_paths = AgentPaths.under(tmp_path / "agent")
    for directory in (agent_paths.config_dir, agent_paths.data_dir):
        directory.mkdir(mode=0o700, parents=True)
    return agent_paths


def test_an_enrolled_device_passes_and_a_revoked_one_fails_with_the_fix(
    tmp_path: Path, paths: AgentPaths
) -> None:
    with running_vault(vault_dir(tmp_path)) as vault:
        ca_file = tmp_path / "vault" / "tls" / CERT_FILENAME
        device_id = enrol_here(vault, paths, ca_file)
        config = AgentSettings(vault_url=str(vault.client.base_url))
        results = by_name(check_vault(config, paths))
        assert [r.status for r in results.values()] == ["ok"] * 5, results
        assert str(device_id) in results["vault-device"].detail
        assert "pinned certificate matches" in results["vault-tls"].detail

        devices.revoke(vault.ctx.engine, device_id, now=vault.ctx.clock())
        device = by_name(check_vault(config, paths))["vault-device"]
        assert device.status == "fail"
        assert "403" in device.detail
        assert device.fix == "this device was revoked: enrol again with callreel-agent enrol"


def test_an_unknown_device_is_told_to_enrol_again(tmp_path: Path, paths: AgentPaths) -> None:
    with running_vault(vault_dir(tmp_path)) as vault:
        ca_file = tmp_path / "vault" / "tls" / CERT_FILENAME
        enrol_here(vault, paths, ca_file)
        url = str(vault.client.base_url)
        write_enrolment(paths, url, ca_file, uuid.uuid4())
        device = by_name(check_vault(AgentSettings(vault_url=url), paths))["vault-device"]
    assert device.status == "fail"
    assert "401" in device.detail
    assert device.fix == (
        "this device is not enrolled (or was revoked): enrol again with callreel-agent enrol"
    )


def test_another_certificate_than_the_pinned_one_fails(tmp_path: Path, paths: AgentPaths) -> None:
    other = ensure_certificate(tmp_path / "other-vault")
    with running_vault(vault_dir(tmp_path)) as vault:
        device_id = enrol_here(vault, paths, tmp_path / "vault" / "tls" / CERT_FILENAME)
        url = str(vault.client.base_url)
        write_enrolment(paths, url, other.cert_path, device_id)
        results = by_name(check_vault(AgentSettings(vault_url=url), paths))
    tls = results["vault-tls"]
    assert tls.status == "fail"
    assert "the vault's certificate is not the one pinned at enrolment" in tls.detail
    assert str(other.cert_path) in tls.detail
    assert "vault-device" not in results


def test_a_certificate_expiring_within_30_days_warns(tmp_path: Path, paths: AgentPaths) -> None:
    # The harness reuses certificate files already present, so this one is served.
    backdated = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=825 - 10)
    tls_files = ensure_certificate(tmp_path / "vault" / "tls", now=backdated)
    with running_vault(vault_dir(tmp_path)) as vault:
        enrol_here(vault, paths, tls_files.cert_path)
        results = by_name(check_vault(AgentSettings(vault_url=str(vault.client.base_url)), paths))
    assert results["vault-tls"].status == "warn"
    assert "expires on" in results["vault-tls"].detail
    assert results["vault-device"].status == "ok"


def test_a_stopped_vault_is_unreachable(tmp_path: Path, paths: AgentPaths) -> None:
    with running_vault(vault_dir(tmp_path)) as vault:
        enrol_here(vault, paths, tmp_path / "vault" / "tls" / CERT_FILENAME)
        url = str(vault.client.base_url)
    tls = by_name(check_vault(AgentSettings(vault_url=url), paths))["vault-tls"]
    assert tls.status == "fail"
    assert f"the vault at {url} is unreachable" in tls.detail


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


# -- spool and permissions ------------------------------------------------------------------


def sealed_segment() -> bytes:
    sealer = RecordingSealer(VaultIdentity.generate().recipient, uuid.uuid4())
    return sealer.seal(0, MediaType.MP4, b"not really video" * 100)


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


# -- the command: everything at once, JSON and exit codes ------------------------------------


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_doctor_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["doctor", *argv])


def test_a_healthy_machine_passes_and_a_broken_one_exits_1(
    desktop: Desktop,
    pulse_server: PulseServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    paths: AgentPaths,
) -> None:
    use_pulse(monkeypatch, pulse_server)
    title = f"CRM doctor {uuid.uuid4().hex[:8]}"
    desktop.spawn_xterm(title=title)
    with running_vault(vault_dir(tmp_path)) as vault:
        enrol_here(vault, paths, tmp_path / "vault" / "tls" / CERT_FILENAME)
        config = AgentSettings(
            vault_url=str(vault.client.base_url),
            window_title_pattern=f"^{title}$",
            microphone="callreel_mic",
            far_end="callreel_farend",
            detectors=("pulse",),
            # AgentSettings' default softphone is baresip, which this test does not run.
            softphone_executable="xterm",
            spool_max_mb=64,
        )
        out = io.StringIO()
        status = run_doctor(parse("--json"), config, paths, out=out, policy_file=ROOT_OWNED_0644)
        results = json.loads(out.getvalue())
        assert status == 0, out.getvalue()
        assert all(set(r) == {"name", "status", "detail", "fix"} for r in results)
        assert {r["status"] for r in results} <= {"ok", "warn"}
        assert [r["name"] for r in results if r["status"] == "warn"] in ([], ["tray"])
        assert {"display", "window", "microphone", "vault-device", "spool"} <= {
            r["name"] for r in results
        }

        broken = AgentSettings(vault_url=config.vault_url, detectors=("pulse",))
        text = io.StringIO()
        assert run_doctor(parse(), broken, paths, out=text, policy_file=ROOT_OWNED_0644) == 1
    lines = text.getvalue().splitlines()
    assert all(line[:6] in ("ok    ", "WARN  ", "FAIL  ") for line in lines)
    window_line = next(line for line in lines if line.startswith("FAIL  window: "))
    assert window_line.endswith(
        "-> nothing to record: set window_title_pattern/window_executable/window_class in the"
        " managed policy"
    )
    assert any(line.startswith("ok    vault-health: ") for line in lines)


def test_root_option_points_at_another_tree(
    tmp_path: Path, pulse_server: PulseServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_pulse(monkeypatch, pulse_server)
    args = parse("--root", str(tmp_path / "elsewhere"), "--json")
    out = io.StringIO()
    assert run_doctor(args, AgentSettings(), out=out, policy_file=ROOT_OWNED_0644) == 1
    results = json.loads(out.getvalue())
    spool = next(r for r in results if r["name"] == "spool")
    assert str(tmp_path / "elsewhere" / "data" / "spool") in spool["detail"]
