"""Which audio devices a recording uses when policy names none (R8, sane defaults).

The microphone defaults to the system's default input. The far end defaults to the monitor
of the default output sink, through an ALSA PCM that Callreel ships
(`alsa/callreel.conf`): PortAudio can only open devices that ALSA's configuration names, and
PulseAudio's `@DEFAULT_MONITOR@` has no name there by default. `register_default_devices`
adds that file to `ALSA_CONFIG_PATH` for this process; it must run before PortAudio loads,
which it does lazily, on the first capture.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

DEFAULT_FAR_END = "callreel_default_monitor"
ALSA_CONFIG = "ALSA_CONFIG_PATH"


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
