"""Which audio devices a recording uses when policy names none (R8, sane defaults).

The microphone defaults to the system's default input. The far end defaults to the monitor
of the default output sink, through an ALSA PCM that Callreel ships
(`alsa/callreel.conf`): PortAudio can only open devices that ALSA's configuration names.
`register_default_devices` adds that file to `ALSA_CONFIG_PATH` for this process; it must run
before PortAudio loads, which it does lazily, on the first capture.

The PCM reads the source named in `FAR_END_SOURCE` (ALSA looks the variable up each time the
PCM is opened). `aim_default_far_end` sets it, before each opening, to the default sink's
monitor by its own name (agent/capture/audio/sound_server.py): PipeWire's pulse server does
not resolve the `@DEFAULT_MONITOR@` alias, which is only the fallback where no server answers.
"""

from __future__ import annotations

import logging
import os
from importlib import resources
from pathlib import Path

from agent.capture.audio.sound_server import NoSoundServerError, default_monitor_source

log = logging.getLogger(__name__)

DEFAULT_FAR_END = "callreel_default_monitor"
ALSA_CONFIG = "ALSA_CONFIG_PATH"
FAR_END_SOURCE = "CALLREEL_FAR_END_SOURCE"
"""Read by alsa/callreel.conf when the PCM opens; keep the two in step."""
DEFAULT_MONITOR_ALIAS = "@DEFAULT_MONITOR@"


def alsa_top_level_config() -> str:
    """alsa-lib's own top-level file: ALSA_CONFIG_PATH replaces it, so it is listed too."""
    return str(Path(os.environ.get("ALSA_CONFIG_DIR", "/usr/share/alsa")) / "alsa.conf")


def callreel_alsa_config() -> Path:
    return Path(str(resources.files("agent.capture.audio") / "alsa" / "callreel.conf"))


def alsa_config_path(current: str | None, top_level: str, callreel_config: Path) -> str:
    """The ALSA_CONFIG_PATH value that also loads `callreel_config` (pure)."""
    files = [part for part in (current or top_level).split(":") if part]
    if str(callreel_config) not in files:
        files.append(str(callreel_config))
    return ":".join(files)


def register_default_devices() -> None:
    """Make `DEFAULT_FAR_END` openable by PortAudio in this process."""
    os.environ[ALSA_CONFIG] = alsa_config_path(
        os.environ.get(ALSA_CONFIG), alsa_top_level_config(), callreel_alsa_config()
    )


def aim_default_far_end() -> str:
    """Point `DEFAULT_FAR_END` at the default sink's monitor, by name; returns the source."""
    try:
        source = default_monitor_source()
    except NoSoundServerError as exc:
        log.info("far end: %s; using %s", exc, DEFAULT_MONITOR_ALIAS)
        source = DEFAULT_MONITOR_ALIAS
    os.environ[FAR_END_SOURCE] = source
    return source
