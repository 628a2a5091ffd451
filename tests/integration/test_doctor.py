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
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.capture.audio.devices import alsa_top_level_config
from agent.commands.doctor import add_doctor_parser, run_doctor
from agent.doctor.audio import check_audio, check_detectors
from agent.doctor.desktop import check_display, check_window
from agent.doctor.vault import check_vault
from agent.paths import AgentPaths
from agent.settings.fields import AgentSettings
from agent.vault_connection.client import enrol
from protocol.pinned_tls import CERT_FILENAME, certificate_file_pin
from protocol.signing import DeviceKey
from testbed.ports import free_port
from testbed.programs import require_program, stop_processes
from testbed.pulse import PulseServer
from testbed.waiting import wait_for
from testbed.x_display import XServer
from tests.helpers.desktop import Desktop
from tests.helpers.doctor import by_name, private_agent_paths, write_enrolment
from tests.helpers.impostor import impostor_listening
from tests.helpers.vault_harness import VaultUnderTest, running_vault
from vault import devices
from vault.roles import Role
from vault.tls import ensure_certificate

ROOT_OWNED_0644 = Path("/etc/passwd")
"""A root-owned, mode 0644 file on every Linux system: a well-kept policy file's shape."""


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


# -- audio and detectors --------------------------------------------------------------------


def test_named_audio_devices_resolve_and_doctor_names_the_source_each_records(
    sound_server: PulseServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_pulse(monkeypatch, sound_server)
    results = by_name(
        check_audio(AgentSettings(microphone="callreel_mic", far_end="callreel_farend"))
    )
    assert results["portaudio"].status == "ok"
    assert results["microphone"].status == "ok", results["microphone"]
    assert "'callreel_mic' resolves to 'callreel_mic'" in results["microphone"].detail
    assert "which records 'virtmic'" in results["microphone"].detail
    assert results["far-end"].status == "ok", results["far-end"]
    assert "'callreel_farend' resolves to 'callreel_farend'" in results["far-end"].detail
    assert "which records 'callsink.monitor'" in results["far-end"].detail


def test_default_audio_devices_record_the_default_input_and_output_monitor(
    sound_server: PulseServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_pulse(monkeypatch, sound_server)
    for setting, device in (("set-default-sink", "callsink"), ("set-default-source", "virtmic")):
        subprocess.run(["pactl", setting, device], env=sound_server.env, check=True, timeout=10)
    results = by_name(check_audio(AgentSettings()))
    assert results["microphone"].status == "ok", results["microphone"]
    assert results["microphone"].detail.startswith("default: ")
    assert "which records 'virtmic'" in results["microphone"].detail
    assert results["far-end"].status == "ok", results["far-end"]
    assert "'callreel_default_monitor'" in results["far-end"].detail
    assert "which records 'callsink.monitor'" in results["far-end"].detail


def test_a_far_end_that_records_no_output_fails(
    sound_server: PulseServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A name that exists, but for a microphone: checking the name alone would pass it.
    use_pulse(monkeypatch, sound_server)
    far_end = by_name(check_audio(AgentSettings(far_end="callreel_mic")))["far-end"]
    assert far_end.status == "fail", far_end
    assert "records 'virtmic'" in far_end.detail
    assert "the caller would not be recorded" in far_end.detail
    assert ".monitor" in far_end.fix


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
        # This process listens, so this interpreter plays the softphone.
        config = AgentSettings(
            detectors=("baresip",),
            baresip_ctrl_address=f"127.0.0.1:{port}",
            softphone_executable=sys.executable,
        )
        result = by_name(check_detectors(config))["detector-baresip"]
        assert result.status == "ok", result
    result = by_name(check_detectors(config))["detector-baresip"]
    assert result.status == "fail"
    assert f"127.0.0.1:{port}" in result.detail
    assert "ctrl_tcp_listen" in result.fix


def test_doctor_names_what_holds_the_softphones_port_instead() -> None:
    port = free_port()
    config = AgentSettings(detectors=("baresip",), baresip_ctrl_address=f"127.0.0.1:{port}")
    with impostor_listening(port) as impostor_pid:
        result = by_name(check_detectors(config))["detector-baresip"]
    assert result.status == "fail", result
    assert f"is not this user's /usr/bin/baresip: its process {impostor_pid} runs as uid" in (
        result.detail
    )
    assert "stop whatever holds the port" in result.fix


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


@pytest.fixture
def paths(tmp_path: Path) -> AgentPaths:
    return private_agent_paths(tmp_path)


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
        pin = certificate_file_pin(ca_file)
        assert f"the vault's TLS key {pin} is trusted" in results["vault-tls"].detail

        devices.revoke(vault.ctx.engine, device_id, now=vault.ctx.clock(), by="test")
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
    served = certificate_file_pin(tmp_path / "vault" / "tls" / CERT_FILENAME)
    assert f"presented the TLS key {served}, which this machine does not trust" in tls.detail
    assert f"(it trusts {other.key_pin})" in tls.detail
    assert "vault_tls_pins" in tls.fix
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


# -- spool and permissions ------------------------------------------------------------------


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
