"""One .deb from a staging tree: control, md5sums, conffiles, maintainer scripts, copyright
and changelog, then `dpkg-deb` with every time and owner fixed, so one commit gives one
byte-identical package."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

from installers.deb.licences import copyright_text
from installers.reproducible import BuildError, normalise_tree, write_gzip

MAINTAINER = "Callreel maintainers <packaging@callreel.org>"
HOMEPAGE = "https://github.com/callreel/callreel"


@dataclass(frozen=True)
class DebPackage:
    name: str
    version: str
    """The Debian version: the project's version and a packaging revision."""
    summary: str
    description: str
    """Paragraphs of the long description, plain text."""
    depends: tuple[str, ...]
    section: str
    conffiles: tuple[str, ...] = ()
    scripts: dict[str, str] = field(default_factory=dict)
    """Maintainer scripts by name (postinst, prerm, postrm...)."""
    bundled_under: str = ""
    """Where the package's virtual environment is, for the copyright of what it bundles."""


def architecture() -> str:
    return subprocess.run(
        ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True
    ).stdout.strip()


def _long_description(text: str) -> str:
    lines: list[str] = []
    for paragraph in text.strip().split("\n\n"):
        if lines:
            lines.append(" .")
        lines += [f" {line}" for line in paragraph.splitlines()]
    return "\n".join(lines)


def _installed_size_kib(root: Path) -> int:
    total = sum(
        path.lstat().st_size for path in root.rglob("*") if path.is_file() or path.is_symlink()
    )
    return (total + 1023) // 1024


def _write_control(stage: Path, package: DebPackage) -> None:
    control = stage / "DEBIAN" / "control"
    control.write_text(
        f"Package: {package.name}\n"
        f"Version: {package.version}\n"
        f"Architecture: {architecture()}\n"
        f"Maintainer: {MAINTAINER}\n"
        f"Installed-Size: {_installed_size_kib(stage)}\n"
        f"Depends: {', '.join(package.depends)}\n"
        f"Section: {package.section}\n"
        "Priority: optional\n"
        f"Homepage: {HOMEPAGE}\n"
        f"Description: {package.summary}\n"
        f"{_long_description(package.description)}\n"
    )


def _write_md5sums(stage: Path, conffiles: tuple[str, ...]) -> None:
    lines = []
    for path in sorted(stage.rglob("*")):
        relative = path.relative_to(stage)
        if relative.parts[0] == "DEBIAN" or path.is_symlink() or not path.is_file():
            continue
        if f"/{relative}" in conffiles:
            continue  # dpkg keeps conffiles' sums itself
        lines.append(f"{hashlib.md5(path.read_bytes()).hexdigest()}  {relative}\n")  # noqa: S324 - dpkg's format
    (stage / "DEBIAN" / "md5sums").write_text("".join(lines))


def _write_docs(stage: Path, package: DebPackage, epoch: int) -> None:
    docs = stage / "usr" / "share" / "doc" / package.name
    docs.mkdir(parents=True, exist_ok=True)
    (docs / "copyright").write_text(copyright_text(stage, package.bundled_under))
    when = format_datetime(datetime.fromtimestamp(epoch, UTC))
    changelog = (
        f"{package.name} ({package.version}) unstable; urgency=medium\n\n"
        f"  * Callreel {package.version}; docs/deploy.md says what changed for IT.\n\n"
        f" -- {MAINTAINER}  {when}\n"
    )
    write_gzip(docs / "changelog.Debian.gz", changelog.encode())


XZ_LEVEL_VARIABLE = "CALLREEL_DEB_XZ_LEVEL"


def xz_level() -> int:
    """xz's level for the package's data: 6 (dpkg's default) unless CALLREEL_DEB_XZ_LEVEL says
    otherwise. installers/check builds with 1 (the agent's package in 14 s instead of 90 s,
    16 % bigger); releases keep 6."""
    given = os.environ.get(XZ_LEVEL_VARIABLE, "6")
    if given not in {str(level) for level in range(10)}:
        raise BuildError(f"{XZ_LEVEL_VARIABLE} must be a digit 0 to 9, got {given!r}")
    return int(given)


def build_deb(stage: Path, package: DebPackage, out_dir: Path, epoch: int) -> Path:
    """Write out_dir/NAME_VERSION_ARCH.deb from `stage` (which gains DEBIAN/ and the docs)."""
    if shutil.which("dpkg-deb") is None:
        raise BuildError("dpkg-deb is missing; install dpkg (apt-get install dpkg)")
    _write_docs(stage, package, epoch)
    debian = stage / "DEBIAN"
    debian.mkdir(exist_ok=True)
    for conffile in package.conffiles:
        if not (stage / conffile.lstrip("/")).is_file():
            raise BuildError(f"conffile {conffile} is not in the package")
    if package.conffiles:
        (debian / "conffiles").write_text("".join(f"{path}\n" for path in package.conffiles))
    normalise_tree(stage, epoch)
    for name, text in package.scripts.items():
        script = debian / name
        script.write_text(text)
        script.chmod(0o755)
        os.utime(script, (epoch, epoch))
    _write_md5sums(stage, package.conffiles)
    _write_control(stage, package)
    normalise_tree(debian, epoch)
    for name in package.scripts:
        (debian / name).chmod(0o755)
    out_dir.mkdir(parents=True, exist_ok=True)
    deb = out_dir / f"{package.name}_{package.version}_{architecture()}.deb"
    done = subprocess.run(
        [
            "dpkg-deb",
            "--root-owner-group",
            "-Zxz",
            f"-z{xz_level()}",
            "--build",
            str(stage),
            str(deb),
        ],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "SOURCE_DATE_EPOCH": str(epoch)},
    )
    if done.returncode != 0:
        raise BuildError(f"dpkg-deb failed for {package.name}:\n{done.stderr}")
    return deb
