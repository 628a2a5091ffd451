"""A private PulseAudio server: a call sink and a virtual microphone.

`callsink` is where a softphone would play the caller; its monitor is the far end. `micsink`
feeds `virtmic`, a source that stands for the agent's microphone. ALSA PCMs named
`callreel_farend` and `callreel_mic` (in the server's own HOME/.asoundrc) let PortAudio open
them by name. Children get the server through `PulseServer.env`.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from testbed.programs import TestbedError, require_program, stop_processes

ASOUNDRC = """
pcm.callreel_mic {
    type pulse
    device "virtmic"
    hint { show on description "Callreel test microphone" }
}
pcm.callreel_farend {
    type pulse
    device "callsink.monitor"
    hint { show on description "Callreel test far end" }
}
"""
MODULES = (
    "module-native-protocol-unix",
    "module-null-sink sink_name=callsink rate=48000",
    "module-null-sink sink_name=micsink rate=48000",
    "module-remap-source source_name=virtmic master=micsink.monitor",
)


@dataclass(frozen=True)
class PulseServer:
    """A private sound server speaking the PulseAudio protocol: PulseAudio itself, or
    PipeWire's pulse server (testbed/pipewire.py)."""

    root: Path
    env: dict[str, str]
    sound_server: tuple[subprocess.Popen[bytes], ...] = field(default=(), compare=False, repr=False)
    """The server's processes, the one clients talk to first."""

    def kill_sound_server(self) -> None:
        """SIGKILL the server's processes, as a crash would, and reap them: connected clients
        see the connection drop, new ones are refused. (pipewire-pulse refuses `pactl exit`.)
        Nothing restarts it; the context manager's exit copes with processes already gone."""
        for process in self.sound_server:
            process.kill()
        for process in self.sound_server:
            process.wait()

    def play_tone(self, sink: str, frequency: float, seconds: float) -> subprocess.Popen[bytes]:
        """Start playing a sine into `sink` (returns at once; wait on the process)."""
        tone = self.root / f"tone-{frequency:g}-{seconds:g}.wav"
        if not tone.exists():
            subprocess.run(
                ["sox", "-n", "-r", "48000", "-c", "1", "-b", "16", str(tone), "synth",
                 str(seconds), "sine", str(frequency), "vol", "0.5"],
                check=True, timeout=30, env=self.env,
            )  # fmt: skip
        return subprocess.Popen(["paplay", f"--device={sink}", str(tone)], env=self.env)


@contextlib.contextmanager
def running_pulse_server(root: Path) -> Iterator[PulseServer]:
    """The private PulseAudio server under `root` (empty), stopped on exit.

    A missing program or a server that does not start raises TestbedError with the reason.
    """
    for tool, package in (("pulseaudio", "pulseaudio"), ("paplay", "pulseaudio-utils"),
                          ("sox", "sox")):  # fmt: skip
        require_program(tool, package)
    home, runtime, state = root / "home", root / "run", root / "state"
    for directory in (home, runtime, state):
        directory.mkdir(mode=0o700)
    (home / ".asoundrc").write_text(ASOUNDRC)
    env = dict(os.environ)
    env.update(
        HOME=str(home),
        XDG_RUNTIME_DIR=str(runtime),
        PULSE_RUNTIME_PATH=str(runtime),
        PULSE_STATE_PATH=str(state),
        PULSE_COOKIE=str(home / "cookie"),
        PULSE_SERVER=f"unix:{runtime}/native",
    )
    command = ["pulseaudio", "--daemonize=no", "--exit-idle-time=-1", "-n",
               f"--log-target=file:{root}/pulse.log"]  # fmt: skip
    command += [f"--load={module}" for module in MODULES]
    server = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 20
    while subprocess.run(["pactl", "info"], env=env, capture_output=True, check=False).returncode:
        if server.poll() is not None or time.monotonic() > deadline:
            log = (root / "pulse.log").read_text() if (root / "pulse.log").exists() else ""
            server.kill()
            server.wait()
            raise TestbedError(f"PulseAudio did not start: {log[-2000:]}")
        time.sleep(0.05)
    try:
        yield PulseServer(root, env, (server,))
    finally:
        stop_processes([server])
