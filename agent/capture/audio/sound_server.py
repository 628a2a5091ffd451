"""What the user's sound server (PulseAudio, or PipeWire's pulse server) says about sources.

PipeWire's pulse server (0.3.65, Debian 12) does not resolve `@DEFAULT_MONITOR@`: a stream
asking for it, or for any name it does not know, silently records the default source, i.e.
the microphone. So the far end is asked for by the monitor's own name, found here the same
way on both servers: the default sink, then that sink's monitor source. And doctor asks the
server which source each of its streams really reads, rather than trusting a name.

pulsectl (libpulse) is imported on first use: Windows and macOS have no pulse server, and the
hook command never needs one.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from dataclasses import dataclass
from typing import Any

CONNECT_ATTEMPTS_S = (0.05, 0.25, 0.7)
"""Timeouts of successive connection attempts, a second in all. pulsectl (24.x) waits out the
whole timeout of `connect` even once connected, so one 1 s attempt cost a full second before
every recording; a local server answers within the first 50 ms."""


class NoSoundServerError(RuntimeError):
    """No pulse-compatible server answers (none runs, or this is not Linux)."""


@contextlib.contextmanager
def _connected() -> Any:
    try:
        pulsectl: Any = importlib.import_module("pulsectl")
    except (ImportError, OSError) as exc:
        raise NoSoundServerError(f"libpulse is not available: {exc}") from exc
    try:
        with pulsectl.Pulse("callreel-agent-devices", connect=False) as pulse:
            for attempt, timeout in enumerate(CONNECT_ATTEMPTS_S, start=1):
                try:
                    pulse.connect(autospawn=False, wait=False, timeout=timeout)
                    break
                except pulsectl.PulseError:
                    if attempt == len(CONNECT_ATTEMPTS_S):
                        raise
            yield pulse
    except pulsectl.PulseError as exc:
        raise NoSoundServerError(f"no sound server answers: {exc}") from exc


def default_monitor_source() -> str:
    """The name of the default output sink's monitor source, e.g. `alsa_output....monitor`."""
    with _connected() as pulse:
        return _default_monitor(pulse)


def _default_monitor(pulse: Any) -> str:
    sink = pulse.get_sink_by_name(pulse.server_info().default_sink_name)
    return str(sink.monitor_source_name)


@dataclass(frozen=True, slots=True)
class SourceRead:
    name: str
    description: str
    is_monitor: bool
    """A sink's monitor: what is played, such as the caller, not a microphone."""


def sources_read_by_this_process() -> list[SourceRead]:
    """The sources this process's recording streams read right now, as the server has it."""
    ours = str(os.getpid())
    with _connected() as pulse:
        clients = {
            client.index
            for client in pulse.client_list()
            if client.proplist.get("application.process.id") == ours
        }
        sources = {source.index: source for source in pulse.source_list()}
        found = []
        for stream in pulse.source_output_list():
            source = sources.get(stream.source)
            if stream.client in clients and source is not None:
                monitor = getattr(source, "monitor_of_sink", None)
                found.append(
                    SourceRead(
                        str(source.name),
                        str(source.description),
                        monitor is not None and monitor != 0xFFFFFFFF,
                    )
                )
        return found


@dataclass(frozen=True, slots=True)
class PulseSource:
    name: str
    channels: int


def pulse_sources_for(microphone: str | None, far_end: str | None) -> tuple[PulseSource, ...]:
    """The server's own sources for a microphone and a far end named by policy: None is the
    default source and the default sink's monitor. Raises LookupError for a name the server
    does not have (PipeWire would silently record the microphone instead): such a name is
    for PortAudio (an ALSA device)."""
    with _connected() as pulse:
        channels = {str(source.name): int(source.channel_count) for source in pulse.source_list()}
        wanted = (
            str(pulse.server_info().default_source_name) if microphone is None else microphone,
            _default_monitor(pulse) if far_end is None else far_end,
        )
    missing = [name for name in wanted if name not in channels]
    if missing:
        raise LookupError(f"the sound server has no source named {', '.join(missing)}")
    return tuple(PulseSource(name, channels[name]) for name in wanted)
