"""Doctor checks for sound: PortAudio and the configured inputs, and the off-hook detectors'
endpoints (the sound server, baresip's control socket, the softphone process)."""

from __future__ import annotations

import contextlib
import importlib
import os
import socket
import sys
from pathlib import Path
from typing import Any

from agent.capture.audio_devices import DEFAULT_FAR_END, register_default_devices
from agent.doctor_result import CheckResult, DoctorConfig, fail, ok, warn

CONNECT_TIMEOUT_S = 2.0
KNOWN_DETECTORS = ("hook", "pulse", "baresip", "windows-mic")


# -- audio ----------------------------------------------------------------------------------


def _load_portaudio() -> Any:
    """sounddevice with a device list read from the current environment.

    PortAudio (and ALSA under it) read devices and configuration once, when loaded; a doctor
    run in a process that loaded it earlier would otherwise report a stale list.
    """
    register_default_devices()
    already = "sounddevice" in sys.modules
    import sounddevice  # noqa: PLC0415 - PortAudio loads only when audio is checked

    if already:
        sounddevice._terminate()
        sounddevice._initialize()
    return sounddevice


def _resolve_input(sounddevice: Any, name: str, role: str, configured: str) -> CheckResult:
    setting = "microphone" if role == "microphone" else "far_end"
    try:
        info = sounddevice.query_devices(name or None, "input")
    except (ValueError, sounddevice.PortAudioError) as exc:
        what = f"input {name!r}" if name else "default input"
        inputs = [
            str(device["name"])
            for device in sounddevice.query_devices()
            if int(device["max_input_channels"]) > 0
        ]
        return fail(
            role,
            f"no {what} for the {role}: {exc}",
            f"set {setting} in the policy to one of: {', '.join(inputs) or '(no inputs found)'}"
            if configured
            else "connect or enable an input device, or name one as"
            f" {setting} in the policy (inputs: {', '.join(inputs) or 'none found'})",
        )
    if configured:
        source = f"{configured!r} resolves to"
    elif role == "far-end":
        source = "default (the monitor of the default output):"
    else:
        source = "default:"
    return ok(role, f"{source} {info['name']!r} (device {info['index']})")


def check_audio(config: DoctorConfig) -> list[CheckResult]:
    try:
        sounddevice = _load_portaudio()
    except OSError as exc:
        return [
            fail(
                "portaudio",
                f"PortAudio does not load: {exc}",
                "install PortAudio (Debian/Ubuntu: apt install libportaudio2)",
            )
        ]
    inputs = sum(1 for d in sounddevice.query_devices() if int(d["max_input_channels"]) > 0)
    results = [ok("portaudio", f"{sounddevice.get_portaudio_version()[1]}, {inputs} inputs")]
    results.append(_resolve_input(sounddevice, config.microphone, "microphone", config.microphone))
    far_end = config.far_end or DEFAULT_FAR_END
    results.append(_resolve_input(sounddevice, far_end, "far-end", config.far_end))
    return results


# -- off-hook detectors ---------------------------------------------------------------------


def _split_address(address: str) -> tuple[str, int] | None:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    return host.strip("[]"), int(port)


def _check_baresip(config: DoctorConfig) -> CheckResult:
    name = "detector-baresip"
    parsed = _split_address(config.baresip_ctrl_address)
    if parsed is None:
        return fail(
            name,
            f"baresip_ctrl_address {config.baresip_ctrl_address!r} is not host:port",
            "set baresip_ctrl_address in the policy, e.g. 127.0.0.1:4444",
        )
    host, port = parsed
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        return fail(
            name,
            f"nothing accepts connections at {host}:{port}: {exc}",
            "start baresip with its ctrl_tcp module (in baresip's config: module ctrl_tcp.so"
            f" and ctrl_tcp_listen {host}:{port})",
        )
    return ok(name, f"baresip ctrl_tcp answers at {host}:{port}")


def _check_pulse() -> CheckResult:
    # Loaded by name: libpulse only when this detector is checked, and pulsectl has no types.
    pulsectl: Any = importlib.import_module("pulsectl")

    name = "detector-pulse"
    fix = (
        "start the user's sound server (systemctl --user start pipewire-pulse, or"
        " pulseaudio --start) in this session"
    )
    try:
        with contextlib.closing(pulsectl.Pulse("callreel-doctor", connect=False)) as pulse:
            pulse.connect(timeout=CONNECT_TIMEOUT_S)
            info = pulse.server_info()
    except pulsectl.PulseError as exc:
        server = os.environ.get("PULSE_SERVER", "the default server")
        return fail(name, f"no PulseAudio/PipeWire server answers ({server}): {exc}", fix)
    return ok(name, f"{info.server_name} {info.server_version} answers")


def _check_softphone(config: DoctorConfig) -> CheckResult:
    import psutil  # noqa: PLC0415

    wanted = config.softphone_executable
    for process in psutil.process_iter(["name", "exe"]):
        names = {process.info.get("name") or "", Path(process.info.get("exe") or "").name}
        if wanted in names:
            return ok("softphone", f"{wanted} is running (pid {process.pid})")
    return warn(
        "softphone",
        f"{wanted} is not running right now",
        "start the softphone; if it runs under another name, correct softphone_executable",
    )


def check_detectors(config: DoctorConfig) -> list[CheckResult]:
    if not config.detectors:
        return [
            fail(
                "detectors",
                "no off-hook detector configured: no call will ever start a recording",
                f"set detectors in the policy to some of: {', '.join(KNOWN_DETECTORS)}",
            )
        ]
    results = []
    for detector in config.detectors:
        if detector == "baresip":
            results.append(_check_baresip(config))
        elif detector == "pulse":
            results.append(_check_pulse())
        elif detector == "hook":
            results.append(
                ok("detector-hook", "the softphone reports calls by running the hook command")
            )
        elif detector == "windows-mic":
            if sys.platform == "win32":
                results.append(ok("detector-windows-mic", "Windows microphone-in-use state"))
            else:
                results.append(
                    fail(
                        "detector-windows-mic",
                        f"the windows-mic detector works on Windows only (this is {sys.platform})",
                        "remove windows-mic from detectors in the policy for this machine",
                    )
                )
        else:
            results.append(
                fail(
                    f"detector-{detector}",
                    f"unknown detector {detector!r}",
                    f"use some of: {', '.join(KNOWN_DETECTORS)}",
                )
            )
    if config.softphone_executable:
        results.append(_check_softphone(config))
    return results
