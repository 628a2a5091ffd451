"""`installers/build TARGET...`: build installers into dist/ (docs/deploy.md).

Targets: agent-deb, vault-deb, agent-msi (wixl, signed with osslsigncode), macos-inputs
(everything the pkg is built from on a Mac, and the configuration profile), policy-templates
(the ADMX/ADML and the Linux policy file), policy-docs (rewrites the policy reference in
docs/deploy.md).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from installers.deb import agent as agent_deb
from installers.deb import vault as vault_deb
from installers.macos import pkg_inputs
from installers.policy.group_policy import adml_text, admx_text
from installers.policy.linux_file import policy_file_text
from installers.policy.reference_table import with_reference_table
from installers.reproducible import REPOSITORY, BuildError, source_date_epoch
from installers.windows import msi as agent_msi

DIST = REPOSITORY / "dist"
WORK = REPOSITORY / "build" / "installers"
DEPLOY_DOC = REPOSITORY / "docs" / "deploy.md"


def _agent_deb(epoch: int, dist: Path) -> list[Path]:
    return [agent_deb.build(WORK, dist, epoch)]


def _vault_deb(epoch: int, dist: Path) -> list[Path]:
    return [vault_deb.build(WORK, dist, epoch)]


def _agent_msi(epoch: int, dist: Path) -> list[Path]:
    return [agent_msi.build(WORK, dist, epoch)]


def _policy_templates(_epoch: int, dist: Path) -> list[Path]:
    out = dist / "policy"
    (out / "en-US").mkdir(parents=True, exist_ok=True)
    written = {
        out / "Callreel.admx": admx_text(),
        out / "en-US" / "Callreel.adml": adml_text(),
        out / "policy.toml": policy_file_text(),
    }
    for path, text in written.items():
        path.write_text(text, encoding="utf-8")
    return list(written)


def _macos_inputs(epoch: int, dist: Path) -> list[Path]:
    # The real team id is the release's (APPLE_TEAM_ID); a build without it gets a profile
    # whose code requirement names no real team, fit only for checking.
    team_id = os.environ.get("APPLE_TEAM_ID", "TESTTEAM00")
    inputs = pkg_inputs.write_inputs(dist, epoch, team_id)
    return [inputs / "Callreel.mobileconfig", pkg_inputs.flat_component(inputs, epoch)]


def _policy_docs(_epoch: int, _dist: Path) -> list[Path]:
    DEPLOY_DOC.write_text(with_reference_table(DEPLOY_DOC.read_text()))
    return [DEPLOY_DOC]


TARGETS: dict[str, Callable[[int, Path], list[Path]]] = {
    "agent-deb": _agent_deb,
    "vault-deb": _vault_deb,
    "agent-msi": _agent_msi,
    "macos-inputs": _macos_inputs,
    "policy-templates": _policy_templates,
    "policy-docs": _policy_docs,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="installers/build", description=__doc__)
    parser.add_argument("targets", nargs="+", choices=list(TARGETS), metavar="TARGET")
    parser.add_argument(
        "--out", type=Path, default=DIST, metavar="DIR", help="where to write (default dist/)"
    )
    args = parser.parse_args(argv)
    try:
        epoch = source_date_epoch()
        for name in args.targets:
            started = time.monotonic()
            print(f"building {name} ...", flush=True)
            for path in TARGETS[name](epoch, args.out.resolve()):
                size = path.stat().st_size
                print(f"  {path} ({size / 1e6:.1f} MB)" if size > 1e6 else f"  {path}")
            print(f"built {name} in {time.monotonic() - started:.0f} s", flush=True)
    except BuildError as exc:
        print(f"installers/build: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
