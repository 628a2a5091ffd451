"""A private PipeWire sound server, as a Debian 12 GNOME session runs it, with the same devices
as testbed/pulse.py.

A GNOME desktop on Debian 12 (and most current distributions) has no PulseAudio daemon: the
user's systemd starts `pipewire` (the graph), `wireplumber` (the session manager: it links
streams to devices and keeps the default sink and source) and `pipewire-pulse` (PipeWire's
implementation of the PulseAudio protocol, which libpulse, pulsectl and ALSA's pulse plugin
talk to). Its behaviour differs from PulseAudio's in ways Callreel depends on (special device
names, client properties, channel mixing), so the tests that matter run against both;
`running_pipewire_server` yields a `PulseServer`, as testbed/pulse.py does, so a test or fixture
can take either.

Everything lives under `root`, nothing touches the user's own session:

- HOME, XDG_RUNTIME_DIR, XDG_CONFIG_HOME, XDG_STATE_HOME, XDG_DATA_HOME and
  PIPEWIRE_RUNTIME_DIR point into `root`, so the sockets (`run/pipewire-0`,
  `run/pulse/native`, `run/bus`), WirePlumber's remembered defaults and volumes
  (`state/wireplumber`) and the configuration below are private. Variables that would send
  a program to the user's own servers (PIPEWIRE_REMOTE, DBUS_SESSION_BUS_ADDRESS...) are
  replaced or dropped.
- A private session D-Bus (`dbus-daemon --session` on `run/bus`, the address systemd's user
  bus has in a real session). All three connect to the session bus: pipewire-pulse claims
  `org.pulseaudio.Server` there, PipeWire watches for the portal, WirePlumber uses it for
  device reservation and permissions. On the user's own bus they would take names from the
  user's sound server and negotiate for its cards. A standalone daemon rather than
  dbus-run-session, so that every process here is one this module started and stops.
- WirePlumber's device monitors (ALSA, Bluetooth, V4L2, libcamera) are switched off by a
  drop-in in the private XDG_CONFIG_HOME: on a developer's machine the private server would
  otherwise open the real sound cards, which the user's own server is using. The policy
  part (linking, defaults) is the stock one.
- The devices are made by pipewire-pulse itself at start (`pulse.cmd` in a
  `pipewire-pulse.conf.d` drop-in), with the same PulseAudio module lines as the PulseAudio
  harness: null sinks `callsink` and `micsink` at 48 kHz and the remapped source `virtmic`
  on micsink's monitor. Then the defaults are set to callsink and virtmic, which is what
  PulseAudio picks there by itself; WirePlumber would choose among equal sinks by whichever
  it saw first.

`PulseServer.env` holds PULSE_SERVER=unix:<root>/run/pulse/native for libpulse clients and
the PipeWire and D-Bus addresses for native PipeWire clients (pw-record). ALSA's pulse plugin
finds the PCMs `callreel_mic` and `callreel_farend` in the private HOME/.asoundrc.

Differences measured with this harness against testbed/pulse.py (PipeWire 0.3.65,
PulseAudio 16.1), which tests of the product meet:

- A recording stream on `@DEFAULT_MONITOR@` records the default *source* (the microphone)
  under pipewire-pulse, although introspection (`get_source_by_name`) resolves that name to
  the default sink's monitor; PulseAudio records the monitor. An unknown source name (or a
  sink name) also records the default source, where PulseAudio refuses the stream. The
  explicit `<default sink>.monitor` name records the monitor on both.
- `pipewire.sec.pid` of a libpulse client is pipewire-pulse's own pid, not the client's;
  only native PipeWire clients (pw-record) carry their own there.
- A stereo source recorded as one channel is mixed at 1/sqrt(2) per channel (+3 dB for a
  tone on both channels) where PulseAudio averages; `channelmix.normalize=true` in the
  client's properties (PULSE_PROP) makes PipeWire average too.

pipewire-pulse refuses `pactl exit` (the server cannot be told to quit over the protocol), so
a "sound server gone" test calls `PulseServer.kill_sound_server()`.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from testbed.programs import TestbedError, require_program, stop_processes, tail
from testbed.pulse import ASOUNDRC, MODULES, PulseServer

PROGRAMS = (
    ("pipewire", "pipewire-bin"),
    ("pipewire-pulse", "pipewire-pulse"),
    ("wireplumber", "wireplumber"),
    ("dbus-daemon", "dbus-daemon"),
    ("pactl", "pulseaudio-utils"),
    ("paplay", "pulseaudio-utils"),
    ("sox", "sox"),
)
"""Each program the harness runs, and the Debian package that brings it."""

PULSE_COMMANDS = "".join(
    f'    {{ cmd = "load-module" args = "{module}" flags = [ ] }}\n'
    for module in MODULES
    if module != "module-native-protocol-unix"  # pipewire-pulse always serves its socket
)
PIPEWIRE_PULSE_CONF = f"""
# Callreel's test devices, made when pipewire-pulse starts (testbed/pipewire.py).
pulse.cmd = [
{PULSE_COMMANDS}]
"""
WIREPLUMBER_NO_DEVICES = """
-- Callreel's private test server must not open the machine's own cards and cameras.
alsa_monitor.enabled = false
v4l2_monitor.enabled = false
libcamera_monitor.enabled = false
"""
WIREPLUMBER_NO_BLUETOOTH = """
bluez_monitor.enabled = false
"""
DEFAULT_SINK, DEFAULT_SOURCE = "callsink", "virtmic"
SOURCES = frozenset({"callsink.monitor", "micsink.monitor", "virtmic"})
"""The sources that exist once all the devices do (each sink has a monitor)."""
FOREIGN_VARIABLES = (
    "PIPEWIRE_REMOTE",
    "PIPEWIRE_CORE",
    "PIPEWIRE_CONFIG_DIR",
    "PIPEWIRE_CONFIG_PREFIX",
    "PIPEWIRE_CONFIG_NAME",
    "WIREPLUMBER_CONFIG_DIR",
    "PULSE_COOKIE_DATA",
    "DBUS_SESSION_BUS_PID",
)
"""Inherited variables that would point a program at another server or configuration."""
_START_TIMEOUT = 20.0


def _private_environment(root: Path) -> dict[str, str]:
    home, runtime = root / "home", root / "run"
    env = {key: value for key, value in os.environ.items() if key not in FOREIGN_VARIABLES}
    env.update(
        HOME=str(home),
        XDG_RUNTIME_DIR=str(runtime),
        XDG_CONFIG_HOME=str(root / "config"),
        XDG_STATE_HOME=str(root / "state"),
        XDG_DATA_HOME=str(root / "data"),
        XDG_CACHE_HOME=str(root / "cache"),
        PIPEWIRE_RUNTIME_DIR=str(runtime),
        PULSE_RUNTIME_PATH=str(runtime / "pulse"),
        PULSE_STATE_PATH=str(root / "state" / "pulse"),
        PULSE_COOKIE=str(home / "cookie"),
        PULSE_SERVER=f"unix:{runtime}/pulse/native",
        DBUS_SESSION_BUS_ADDRESS=f"unix:path={runtime}/bus",
        GIO_USE_VFS="local",  # as wireplumber.service sets it: no gvfs daemon from GLib
    )
    return env


def _write_configuration(root: Path) -> None:
    for directory in ("home", "run", "run/pulse", "config", "state", "data", "cache"):
        (root / directory).mkdir(mode=0o700, parents=True)
    (root / "home" / ".asoundrc").write_text(ASOUNDRC)
    pulse_conf = root / "config" / "pipewire" / "pipewire-pulse.conf.d"
    pulse_conf.mkdir(parents=True)
    (pulse_conf / "50-callreel-devices.conf").write_text(PIPEWIRE_PULSE_CONF)
    # WirePlumber 0.4 runs every *.lua.d fragment of every configuration directory in name
    # order: these come after the stock 50-*-config.lua that enable the monitors.
    for part, text in (("main", WIREPLUMBER_NO_DEVICES), ("bluetooth", WIREPLUMBER_NO_BLUETOOTH)):
        fragments = root / "config" / "wireplumber" / f"{part}.lua.d"
        fragments.mkdir(parents=True)
        (fragments / "51-callreel-no-devices.lua").write_text(text)


def _accepts(path: Path) -> bool:
    """Whether a server listens on the unix socket `path` (exists is not enough)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        try:
            client.connect(str(path))
        except OSError:
            return False
    return True


def _pactl(env: dict[str, str], *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["pactl", *arguments], env=env, capture_output=True, text=True, check=False, timeout=10
    )


def _devices_ready(env: dict[str, str]) -> bool:
    """pipewire-pulse answers and lists every test source (so every sink)."""
    sources = _pactl(env, "list", "short", "sources")
    if sources.returncode:
        return False
    names = {line.split("\t")[1] for line in sources.stdout.splitlines() if "\t" in line}
    return names >= SOURCES


def _defaults_set(env: dict[str, str]) -> bool:
    """Whether the server reports callsink and virtmic as its defaults (set through
    WirePlumber, which applies them a moment after pactl returns)."""
    sink, source = _pactl(env, "get-default-sink"), _pactl(env, "get-default-source")
    return (sink.stdout.strip(), source.stdout.strip()) == (DEFAULT_SINK, DEFAULT_SOURCE)


class _Startup:
    """The processes started so far, their logs, and the one deadline they share."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root, self.env = root, env
        self.processes: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.deadline = time.monotonic() + _START_TIMEOUT

    def start(self, name: str, command: list[str]) -> None:
        with (self.root / f"{name}.log").open("wb") as log:
            process = subprocess.Popen(
                command, env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
        self.processes.append((name, process))

    def wait(self, condition: Callable[[], bool], what: str) -> None:
        """Poll `condition`; TestbedError with every log's tail if a process exits first or
        the deadline passes."""
        while not condition():
            exited = [name for name, process in self.processes if process.poll() is not None]
            if exited or time.monotonic() > self.deadline:
                why = (
                    f"{', '.join(exited)} exited"
                    if exited
                    else f"timed out after {_START_TIMEOUT} s"
                )
                logs = "\n".join(
                    f"--- {name}.log\n{tail(self.root / f'{name}.log', 1500)}"
                    for name, _ in self.processes
                )
                raise TestbedError(f"PipeWire did not start ({what}: {why}):\n{logs}")
            time.sleep(0.05)

    def stop(self) -> None:
        stop_processes(process for _, process in reversed(self.processes))


@contextlib.contextmanager
def running_pipewire_server(root: Path) -> Iterator[PulseServer]:
    """The private PipeWire server under `root` (empty), stopped on exit with its D-Bus.

    A missing program or a server that does not start raises TestbedError with the reason.
    """
    for tool, package in PROGRAMS:
        require_program(tool, package)
    _write_configuration(root)
    env = _private_environment(root)
    runtime = root / "run"
    startup = _Startup(root, env)
    try:
        startup.start("dbus", ["dbus-daemon", "--session", "--nofork", "--nosyslog",
                               f"--address=unix:path={runtime}/bus"])  # fmt: skip
        startup.wait(lambda: _accepts(runtime / "bus"), "session bus")
        # Without PipeWire, WirePlumber exits and pipewire-pulse's pulse.cmd modules fail.
        startup.start("pipewire", ["pipewire"])
        startup.wait(lambda: _accepts(runtime / "pipewire-0"), "pipewire")
        startup.start("wireplumber", ["wireplumber"])
        startup.start("pipewire-pulse", ["pipewire-pulse"])
        startup.wait(lambda: _devices_ready(env), "pipewire-pulse and its devices")
        _pactl(env, "set-default-sink", DEFAULT_SINK)
        _pactl(env, "set-default-source", DEFAULT_SOURCE)
        startup.wait(lambda: _defaults_set(env), "default sink and source")
    except BaseException:
        startup.stop()
        raise
    named = dict(startup.processes)
    sound_server = (named["pipewire-pulse"], named["wireplumber"], named["pipewire"])
    try:
        yield PulseServer(root, env, sound_server)
    finally:
        startup.stop()
