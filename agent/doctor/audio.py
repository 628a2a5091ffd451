"""Doctor checks for sound: PortAudio and the configured inputs, and the off-hook detectors'
endpoints (the sound server, baresip's control socket, the softphone process)."""

from __future__ import annotations

import contextlib
import importlib
import os
import socket
import sys
import time
from typing import Any

from agent.capture.audio.devices import (
    DEFAULT_FAR_END,
    aim_default_far_end,
    register_default_devices,
)
from agent.capture.audio.sound_server import (
    NoSoundServerError,
    SourceRead,
    sources_read_by_this_process,
)
from agent.detect.addresses import parse_host_port
from agent.detect.names import DetectorName
from agent.detect.trusted_process import Softphone, tcp_peer_pid
from agent.doctor.result import CheckResult, fail, ok, warn
from agent.settings.fields import AgentSettings

CONNECT_TIMEOUT_S = 2.0
STREAM_SETTLE_S = 0.3
"""Long enough for the sound server to list a stream just opened."""


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
        device = f"{configured!r} resolves to"
    elif role == "far-end":
        device = "default (the monitor of the default output):"
    else:
        device = "default:"
    found = f"{device} {info['name']!r} (device {info['index']})"
    return _what_it_records(sounddevice, info, role, setting, found)


def _what_it_records(
    sounddevice: Any, info: Any, role: str, setting: str, found: str
) -> CheckResult:
    """Open the device as a recording does and ask the sound server which source it reads:
    a name that exists may still record something else (PipeWire records the default source,
    the microphone, for a source name it does not know)."""
    try:
        with sounddevice.InputStream(
            device=info["index"], channels=1, samplerate=48_000, dtype="int16"
        ):
            time.sleep(STREAM_SETTLE_S)
            read = sources_read_by_this_process()
    except (sounddevice.PortAudioError, ValueError) as exc:
        return fail(role, f"{found}, but it does not open: {exc}", f"check {setting} in policy")
    except NoSoundServerError:
        return ok(role, f"{found} (no sound server to say which source it reads)")
    if len(read) != 1:
        return ok(role, f"{found}; the sound server shows {len(read)} streams of this process")
    source = read[0]
    recorded = f"{found}, which records {_named(source)}"
    if role == "far-end" and not source.is_monitor:
        return fail(
            role,
            f"{recorded}: that is not an output's monitor, so the caller would not be recorded",
            "set far_end in the policy to the monitor of the output the softphone plays to"
            " (pactl list short sources: its name ends in .monitor)",
        )
    if role == "microphone" and source.is_monitor:
        return warn(
            role,
            f"{recorded}: that is an output's monitor, not a microphone",
            "set microphone in the policy to the headset's microphone",
        )
    return ok(role, recorded)


def _named(source: SourceRead) -> str:
    return f"{source.name!r} ({source.description})"


def check_audio(config: AgentSettings) -> list[CheckResult]:
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
    if not config.far_end:
        aim_default_far_end()  # as a recording does, before it opens the far end
    far_end = config.far_end or DEFAULT_FAR_END
    results.append(_resolve_input(sounddevice, far_end, "far-end", config.far_end))
    return results


# -- off-hook detectors ---------------------------------------------------------------------


def _check_baresip(config: AgentSettings) -> CheckResult:
    name = "detector-baresip"
    # The settings check refused anything else, so this parses.
    host, port = parse_host_port(config.baresip_ctrl_address)
    try:
        softphone = Softphone.from_setting(config.softphone_executable)
    except ValueError as exc:
        return fail(name, str(exc), "set softphone_executable in the managed policy")
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S) as sock:
            refusal = softphone.refusal(tcp_peer_pid(sock))
    except OSError as exc:
        return fail(
            name,
            f"nothing accepts connections at {host}:{port}: {exc}",
            "start baresip with its ctrl_tcp module (in baresip's config: module ctrl_tcp.so"
            f" and ctrl_tcp_listen {host}:{port})",
        )
    if refusal is not None:
        return fail(
            name,
            f"{host}:{port} is not this user's {softphone.executable}: {refusal}",
            "stop whatever holds the port and start the softphone, or correct"
            " baresip_ctrl_address and softphone_executable",
        )
    return ok(name, f"baresip ctrl_tcp answers at {host}:{port} ({softphone.executable})")


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


def _check_softphone(config: AgentSettings) -> CheckResult:
    import psutil  # noqa: PLC0415

    try:
        softphone = Softphone.from_setting(config.softphone_executable)
    except ValueError as exc:
        return fail("softphone", str(exc), "set softphone_executable in the managed policy")
    for process in psutil.process_iter():
        if softphone.refusal(process.pid) is None:
            return ok("softphone", f"{softphone.executable} is running (pid {process.pid})")
    return warn(
        "softphone",
        f"{softphone.executable} is not running as this user right now",
        "start the softphone; if it is another program, correct softphone_executable",
    )


def _check_detector(name: DetectorName, config: AgentSettings) -> CheckResult:
    match name:
        case DetectorName.BARESIP:
            return _check_baresip(config)
        case DetectorName.PULSE:
            return _check_pulse()
        case DetectorName.HOOK:
            return ok("detector-hook", "the softphone reports calls by running the hook command")
        case DetectorName.WINDOWS_MIC:
            if sys.platform == "win32":
                return ok("detector-windows-mic", "Windows microphone-in-use state")
            return fail(
                "detector-windows-mic",
                f"the windows-mic detector works on Windows only (this is {sys.platform})",
                "remove windows-mic from detectors in the policy for this machine",
            )


def check_detectors(config: AgentSettings) -> list[CheckResult]:
    """Each configured detector's endpoint, then the softphone process. The settings check
    already refused an empty or unknown detector list."""
    results = [_check_detector(DetectorName(name), config) for name in config.detectors]
    results.append(_check_softphone(config))
    return results
