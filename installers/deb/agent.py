"""The agent's .deb: the agent in /usr/lib/callreel-agent, `callreel-agent` on the PATH, an
XDG autostart entry for every user, and IT's policy file as a conffile.

The policy file is generated from the settings declaration with every setting commented
out, so an upgrade that adds a setting shows it to IT in dpkg's conffile prompt.
"""

from __future__ import annotations

from pathlib import Path

from agent.settings.managed_policy import DEFAULT_POLICY_FILE
from installers.deb.package import DebPackage, build_deb
from installers.deb.python_env import debian_python_version, glibc_dependency, next_minor
from installers.deb.staging import FILES, compile_bytecode, place, remove_bytecode, stage_product
from installers.locks import TARGETS
from installers.policy.linux_file import policy_file_text
from protocol.version import VERSION

NAME = "callreel-agent"
INSTALLED_AT = Path("/usr/lib/callreel-agent")
AUTOSTART = Path("/etc/xdg/autostart/callreel-agent.desktop")

# Qt on X11 (xcb); the sound server read with libpulse-simple, or PortAudio through ALSA's
# pulse plugin for ALSA device names; as scripts/setup installs them.
SYSTEM_LIBRARIES = (
    "libportaudio2", "libasound2-plugins", "libpulse0", "libxcb-cursor0", "libxcb-icccm4",
    "libxcb-keysyms1", "libxcb-xinerama0", "libxcb-shape0", "libxcb-randr0",
    "libxcb-render-util0", "libxcb-image0", "libxkbcommon-x11-0", "libegl1", "libgl1",
    "libfontconfig1", "libdbus-1-3",
)  # fmt: skip

POSTINST = f"""\
#!/bin/sh
set -e
if [ "$1" = configure ]; then
    # Bytecode is made here, on the machine, as Debian's Python packages do.
    {compile_bytecode(INSTALLED_AT)}
fi
"""

PRERM = f"""\
#!/bin/sh
set -e
{remove_bytecode(INSTALLED_AT)}
"""

POSTRM = """\
#!/bin/sh
set -e
if [ "$1" = purge ]; then
    rmdir --ignore-fail-on-non-empty /etc/callreel 2>/dev/null || true
    echo "callreel-agent: each user's unsent recordings stay in their" \\
        "~/.local/share/callreel/spool until deleted" >&2
fi
"""


def package(stage: Path, python_version: str) -> DebPackage:
    return DebPackage(
        name=NAME,
        version=f"{VERSION}-1",
        summary="Callreel agent: training call recordings, after a notice",
        description=(
            "The Callreel agent records a contact-centre agent's business-application window\n"
            "and both sides of a call, only while a trainer's session is open and a call is\n"
            "in progress, after an on-screen notice. Recordings are encrypted on the machine\n"
            "to the vault's key and uploaded to the Callreel vault.\n\n"
            f"IT sets its policy in {DEFAULT_POLICY_FILE}; the agent starts at every\n"
            "user's login."
        ),
        depends=(
            glibc_dependency(stage),
            f"python3 (>= {python_version})",
            f"python3 (<< {next_minor(python_version)})",
            *SYSTEM_LIBRARIES,
        ),
        section="utils",
        conffiles=(str(DEFAULT_POLICY_FILE), str(AUTOSTART)),
        scripts={"postinst": POSTINST, "prerm": PRERM, "postrm": POSTRM},
        bundled_under=str(INSTALLED_AT),
    )


def build(work: Path, out_dir: Path, epoch: int) -> Path:
    stage = stage_product(work, NAME, INSTALLED_AT, TARGETS["agent-linux"], epoch)
    policy = stage / str(DEFAULT_POLICY_FILE).lstrip("/")
    policy.parent.mkdir(parents=True)
    policy.write_text(policy_file_text())
    place(stage, FILES / "callreel-agent.desktop", AUTOSTART)
    return build_deb(stage, package(stage, debian_python_version()), out_dir, epoch)
