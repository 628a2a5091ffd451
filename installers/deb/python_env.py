"""A virtual environment built in a staging tree for the place it will be installed at.

Debian's python3 makes it (the packages depend on that interpreter), pip installs the locked
wheels with their hashes checked and then Callreel's own wheel, and the few files that name
the staging path are rewritten to name the installed one. No bytecode is written here: the
package's postinst compiles it on the machine, as Debian's Python packages do.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import os
import re
import shutil
import sys
from pathlib import Path

from installers.reproducible import BuildError, run_step

DEBIAN_PYTHON = Path("/usr/bin/python3")


def debian_python_version() -> str:
    if not DEBIAN_PYTHON.exists():
        raise BuildError(
            f"{DEBIAN_PYTHON} is missing; install Debian's python3 (apt-get install python3)"
        )
    return run_step(
        [str(DEBIAN_PYTHON), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], "python3"
    ).strip()


def build_environment(stage: Path, installed_at: Path, lock: Path, wheel: Path, extra: str) -> None:
    """A virtual environment at stage/installed_at that works once moved to installed_at."""
    venv = stage / installed_at.relative_to("/")
    shutil.rmtree(venv, ignore_errors=True)
    run_step([str(DEBIAN_PYTHON), "-m", "venv", "--without-pip", str(venv)], "making the venv")
    python = venv / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
           "--no-compile", "--no-deps", "--only-binary=:all:"]  # fmt: skip
    run_step([*pip, "--require-hashes", "-r", str(lock)], f"installing the wheels of {lock.name}")
    run_step([*pip, f"{wheel}[{extra}]"], "installing Callreel's wheel")
    _relocate(venv, installed_at)


def _update_record(record: Path, rewritten: set[Path]) -> None:
    """The hashes and sizes of rewritten scripts in a wheel's RECORD, so it stays true (and
    does not carry the staging path's length into the package)."""
    site_packages = record.parent.parent
    rows = list(csv.reader(io.StringIO(record.read_text())))
    for row in rows:
        if row and (site_packages / row[0]).resolve() in rewritten:
            data = (site_packages / row[0]).read_bytes()
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            row[1:3] = [f"sha256={digest.decode()}", str(len(data))]
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    record.write_text(out.getvalue())


def _relocate(venv: Path, installed_at: Path) -> None:
    staged = str(venv).encode()
    final = str(installed_at).encode()
    rewritten: set[Path] = set()
    for script in (venv / "bin").iterdir():
        if script.is_symlink() or not script.is_file():
            continue
        if script.name.lower().startswith("activate"):
            script.unlink()  # for interactive shells in a developer's venv; not shipped
            continue
        data = script.read_bytes()
        if data.startswith(b"#!") and staged in data.split(b"\n", 1)[0]:
            script.write_bytes(data.replace(staged, final, 1))
            rewritten.add(script.resolve())
    for record in venv.glob("lib/python3*/site-packages/*.dist-info/RECORD"):
        _update_record(record, rewritten)
    for record in venv.glob("lib/python3*/site-packages/*.dist-info/direct_url.json"):
        # It names the wheel's path on the build machine; pip only uses it for `pip freeze`.
        record.unlink()
    for cache in list(venv.rglob("__pycache__")):
        shutil.rmtree(cache)  # some wheels ship bytecode; postinst makes it for this Python
    for link in (venv / "bin").iterdir():
        if link.is_symlink() and link.readlink().is_absolute():
            # bin/python -> /usr/bin/python3, relative so the package holds no absolute link
            relative = os.path.relpath(link.readlink(), installed_at / "bin")
            link.unlink()
            link.symlink_to(relative)
    config = venv / "pyvenv.cfg"
    lines = [
        line
        for line in config.read_text().splitlines()
        # `command` and `executable` record how the build machine made the venv.
        if not line.startswith(("command =", "executable ="))
    ]
    config.write_text("\n".join(lines) + "\n")
    leftovers = [
        str(path)
        for path in venv.rglob("*")
        if path.is_file() and not path.is_symlink() and staged in path.read_bytes()
    ]
    if leftovers:
        raise BuildError(f"files still name the staging path {venv}: {leftovers[:5]}")


def glibc_dependency(stage: Path) -> str:
    """libc6 at the newest glibc any bundled wheel was built for (its manylinux tag)."""
    newest = (2, 17)
    for wheel in stage.rglob("site-packages/*.dist-info/WHEEL"):
        for tag in re.findall(r"manylinux_(\d+)_(\d+)_", wheel.read_text()):
            newest = max(newest, (int(tag[0]), int(tag[1])))
    return f"libc6 (>= {newest[0]}.{newest[1]})"


def next_minor(version: str) -> str:
    """'3.11' -> '3.12': the venv's compiled wheels are for one minor version of Python."""
    major, minor = version.split(".")
    return f"{major}.{int(minor) + 1}"
