"""/etc/callreel/policy.toml as the agent's .deb installs it: every setting, commented out
at its default, with what it does and what is allowed."""

from __future__ import annotations

import textwrap

import tomli_w

from agent.settings.managed_policy import DEFAULT_POLICY_FILE
from installers.policy.settings_view import policy_settings

HEADER = f"""\
# Callreel agent: IT's managed policy for every user of this machine ({DEFAULT_POLICY_FILE}).
#
# Uncomment a line to set it. The agent refuses to start on a policy it cannot trust (not
# owned by root, writable by others, or with a value that is not allowed) rather than fall
# back to a default that could widen what is recorded; `callreel-agent settings show` prints
# what it will run with and where each value came from. Package upgrades keep this file.
"""


def _toml_value(value: object) -> str:
    """A value on one line, so that uncommenting the line sets it (tomli_w breaks arrays)."""
    if isinstance(value, tuple):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    return tomli_w.dumps({"v": value}).split(" = ", 1)[1].rstrip("\n")


def policy_file_text() -> str:
    blocks = [HEADER]
    for setting in policy_settings():
        about = textwrap.wrap(setting.spec.about, width=88)
        lines = [f"# {line}" for line in about]
        lines.append(f"# Allowed: {setting.spec.allowed}. Set by: {setting.who_may_change}.")
        lines.append(f"#{setting.name} = {_toml_value(setting.default)}")
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)
