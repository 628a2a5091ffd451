"""The vault's .deb: the vault in /usr/lib/callreel-vault, a systemd service running as its
own system user with its data in /var/lib/callreel-vault, its settings in
/etc/callreel-vault/vault.env, and schema migrations on every upgrade."""

from __future__ import annotations

from pathlib import Path

from installers.deb.package import DebPackage, build_deb
from installers.deb.python_env import debian_python_version, glibc_dependency, next_minor
from installers.deb.staging import FILES, compile_bytecode, place, remove_bytecode, stage_product
from installers.locks import TARGETS
from protocol.version import VERSION

NAME = "callreel-vault"
USER = "callreel-vault"
INSTALLED_AT = Path("/usr/lib/callreel-vault")
DATA = Path("/var/lib/callreel-vault")
SETTINGS = Path("/etc/callreel-vault/vault.env")
UNIT = Path("/lib/systemd/system/callreel-vault.service")

MIGRATE = (
    f"runuser -u {USER} -- {INSTALLED_AT}/bin/callreel-vault migrate --data {DATA}"
    " $CALLREEL_VAULT_DATABASE"
)

POSTINST = f"""\
#!/bin/sh
set -e
if [ "$1" = configure ]; then
    if ! getent passwd {USER} >/dev/null; then
        adduser --system --group --home {DATA} --no-create-home \\
            --gecos "Callreel vault" {USER} >/dev/null
    fi
    install -d -o {USER} -g {USER} -m 0750 {DATA}
    {compile_bytecode(INSTALLED_AT)}
    # An upgrade brings the database to the new schema before the service starts again.
    if [ -n "$2" ]; then
        . {SETTINGS}
        {MIGRATE}
    fi
fi
if [ "$1" = configure ] || [ "$1" = abort-upgrade ]; then
    deb-systemd-helper unmask {UNIT.name} >/dev/null || true
    if deb-systemd-helper --quiet was-enabled {UNIT.name}; then
        deb-systemd-helper enable {UNIT.name} >/dev/null || true
    else
        deb-systemd-helper update-state {UNIT.name} >/dev/null || true
    fi
    if [ -d /run/systemd/system ]; then
        systemctl --system daemon-reload >/dev/null || true
        deb-systemd-invoke try-restart {UNIT.name} >/dev/null || true
    fi
fi
"""

PRERM = f"""\
#!/bin/sh
set -e
if [ -d /run/systemd/system ] && [ "$1" = remove ]; then
    deb-systemd-invoke stop {UNIT.name} >/dev/null || true
fi
{remove_bytecode(INSTALLED_AT)}
"""

POSTRM = f"""\
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
    systemctl --system daemon-reload >/dev/null || true
fi
if [ "$1" = remove ] && command -v deb-systemd-helper >/dev/null; then
    deb-systemd-helper mask {UNIT.name} >/dev/null || true
fi
if [ "$1" = purge ]; then
    if command -v deb-systemd-helper >/dev/null; then
        deb-systemd-helper purge {UNIT.name} >/dev/null || true
        deb-systemd-helper unmask {UNIT.name} >/dev/null || true
    fi
    echo "callreel-vault: the recordings, keys and database stay in {DATA};" \\
        "delete it yourself once you are sure they are no longer needed" >&2
fi
"""


def package(stage: Path, python_version: str) -> DebPackage:
    return DebPackage(
        name=NAME,
        version=f"{VERSION}-1",
        summary="Callreel vault: sealed training recordings and their access log",
        description=(
            "The Callreel vault keeps the training recordings that Callreel agents seal\n"
            "to its key, releases them only to authorised people through its console and\n"
            "API, and keeps a tamper-evident log of every access. Retention deletes\n"
            "recordings by destroying their keys.\n\n"
            f"It runs as the systemd service callreel-vault, as the user {USER},\n"
            f"with its data in {DATA}\n"
            f"and its settings in {SETTINGS}."
        ),
        depends=(
            glibc_dependency(stage),
            f"python3 (>= {python_version})",
            f"python3 (<< {next_minor(python_version)})",
            "adduser",
            "init-system-helpers (>= 1.54)",
        ),
        section="net",
        conffiles=(str(SETTINGS),),
        scripts={"postinst": POSTINST, "prerm": PRERM, "postrm": POSTRM},
        bundled_under=str(INSTALLED_AT),
    )


def build(work: Path, out_dir: Path, epoch: int) -> Path:
    stage = stage_product(work, NAME, INSTALLED_AT, TARGETS["vault-linux"], epoch)
    place(stage, FILES / "callreel-vault.service", UNIT)
    place(stage, FILES / "vault.env", SETTINGS)
    return build_deb(stage, package(stage, debian_python_version()), out_dir, epoch)
