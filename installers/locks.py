"""The pinned inputs of the installers: for each target, every wheel by name, version and
sha256, as `pip install --require-hashes` takes them.

`python -m installers.locks` resolves the product's declared dependencies (pyproject.toml's
base and the target's extra) for the target's Python and platform and rewrites
installers/locks/TARGET.txt; builds only ever install from those files, so a new upstream
release changes nothing until someone relocks and commits the diff.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement

from installers.reproducible import REPOSITORY, BuildError

LOCKS = REPOSITORY / "installers" / "locks"


@dataclass(frozen=True, slots=True)
class LockTarget:
    name: str
    extra: str
    python_version: str
    """major.minor of the Python the wheels are for."""
    platforms: tuple[str, ...]
    """pip's --platform tags; empty: this machine's."""
    sys_platform: str

    @property
    def lock_file(self) -> Path:
        return LOCKS / f"{self.name}.txt"


TARGETS = {
    target.name: target
    for target in (
        # Debian 12's python3 is 3.11, which the .debs' virtual environments run on.
        LockTarget("agent-linux", "agent", "3.11", (), "linux"),
        LockTarget("vault-linux", "vault", "3.11", (), "linux"),
        # The official embeddable CPython the MSI carries (installers/msi/).
        LockTarget("agent-windows", "agent", "3.13", ("win_amd64",), "win32"),
    )
}


def declared_requirements(target: LockTarget) -> list[str]:
    """The base and extra requirements that apply on the target's platform, markers dropped."""
    project = tomllib.loads((REPOSITORY / "pyproject.toml").read_text())["project"]
    environment = {
        "sys_platform": target.sys_platform,
        "platform_system": {"linux": "Linux", "win32": "Windows"}[target.sys_platform],
        "os_name": "nt" if target.sys_platform == "win32" else "posix",
        "python_version": target.python_version,
        "python_full_version": f"{target.python_version}.0",
        "extra": target.extra,
    }
    chosen = []
    for line in [*project["dependencies"], *project["optional-dependencies"][target.extra]]:
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate(environment):
            requirement.marker = None
            chosen.append(str(requirement))
    return chosen


def resolve(target: LockTarget) -> list[str]:
    """`name==version --hash=sha256:...` lines for every wheel the target installs."""
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "report.json"
        command = [
            sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed",
            "--quiet", "--only-binary=:all:", "--report", str(report),
            "--python-version", target.python_version, "--implementation", "cp",
        ]  # fmt: skip
        for platform in target.platforms:
            command += ["--platform", platform]
        # --target lets pip resolve for another platform without touching any environment.
        command += ["--target", str(Path(scratch) / "unused")]
        command += declared_requirements(target)
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise BuildError(f"pip could not resolve {target.name}:\n{done.stderr[-3000:]}")
        installs = json.loads(report.read_text())["install"]
    lines = []
    for install in installs:
        metadata, archive = install["metadata"], install["download_info"]
        digest = archive.get("archive_info", {}).get("hashes", {}).get("sha256")
        if not digest:
            raise BuildError(f"{metadata['name']}: the index gave no sha256 for {archive['url']}")
        lines.append(f"{metadata['name'].lower()}=={metadata['version']} --hash=sha256:{digest}")
    return sorted(lines)


def write_lock(target: LockTarget) -> None:
    header = (
        f"# {target.name}: Python {target.python_version}"
        f" {' '.join(target.platforms) or target.sys_platform}, from pyproject.toml's"
        f" [{target.extra}] extra.\n# Rewritten by `python -m installers.locks {target.name}`;"
        " review the diff before committing it.\n"
    )
    target.lock_file.write_text(header + "\n".join(resolve(target)) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m installers.locks", description=__doc__)
    parser.add_argument(
        "targets", nargs="*", choices=list(TARGETS), default=list(TARGETS), metavar="TARGET"
    )
    args = parser.parse_args(argv)
    for name in args.targets:
        write_lock(TARGETS[name])
        print(f"wrote {TARGETS[name].lock_file.relative_to(REPOSITORY)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
