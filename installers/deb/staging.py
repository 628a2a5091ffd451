"""What both .debs share: a staging tree holding the product's virtual environment, its
command on the PATH and its lintian overrides, and the maintainer-script lines that make and
remove its bytecode."""

from __future__ import annotations

import shutil
from pathlib import Path

from installers.deb.python_env import build_environment
from installers.locks import LockTarget
from installers.project_wheel import project_wheel

FILES = Path(__file__).parent / "files"


def compile_bytecode(installed_at: Path) -> str:
    """postinst: bytecode is made on the machine, as Debian's Python packages do."""
    return f"{installed_at}/bin/python -m compileall -q {installed_at}/lib >/dev/null || true"


def remove_bytecode(installed_at: Path) -> str:
    """prerm: what postinst compiled, so that removal leaves nothing behind."""
    return (
        f"find {installed_at} -name __pycache__ -type d -prune -exec rm -rf {{}} +"
        " 2>/dev/null || true"
    )


def place(stage: Path, source: Path, installed: Path) -> Path:
    """Copy `source` to where it is installed, under `stage`."""
    target = stage / str(installed).lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return target


def stage_product(work: Path, name: str, installed_at: Path, lock: LockTarget, epoch: int) -> Path:
    """work/NAME with the product's venv at installed_at, /usr/bin/NAME and its overrides."""
    stage = work / name
    shutil.rmtree(stage, ignore_errors=True)
    wheel = project_wheel(work / "wheels", epoch)
    build_environment(stage, installed_at, lock.lock_file, wheel, lock.extra)
    binaries = stage / "usr" / "bin"
    binaries.mkdir(parents=True)
    (binaries / name).symlink_to(f"../lib/{installed_at.name}/bin/{name}")
    place(stage, FILES / f"{name}.lintian-overrides", Path("/usr/share/lintian/overrides") / name)
    return stage
