"""The far-end default device: Callreel's ALSA file joins whatever ALSA_CONFIG_PATH holds."""

from __future__ import annotations

from pathlib import Path

from agent.capture.audio.devices import (
    DEFAULT_FAR_END,
    DEFAULT_MONITOR_ALIAS,
    FAR_END_SOURCE,
    alsa_config_path,
    callreel_alsa_config,
)

OURS = Path("/opt/callreel/alsa/callreel.conf")


def test_unset_path_keeps_alsa_own_top_level_file_first() -> None:
    assert alsa_config_path(None, "/usr/share/alsa/alsa.conf", OURS) == (
        f"/usr/share/alsa/alsa.conf:{OURS}"
    )


def test_a_path_set_by_the_user_is_kept_and_ours_added_once() -> None:
    current = f"/etc/site-alsa.conf:{OURS}"
    assert alsa_config_path(current, "/usr/share/alsa/alsa.conf", OURS) == current
    assert alsa_config_path("/etc/site-alsa.conf", "/ignored", OURS) == current


def test_the_shipped_file_reads_the_monitor_named_by_the_agent_or_else_the_default() -> None:
    text = callreel_alsa_config().read_text()
    assert f"pcm.{DEFAULT_FAR_END} {{" in text
    assert f"vars [ {FAR_END_SOURCE} ]" in text
    assert f'default "{DEFAULT_MONITOR_ALIAS}"' in text
