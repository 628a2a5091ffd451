"""Callreel's own wheel, built from this checkout, which every installer installs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from installers.reproducible import REPOSITORY, BuildError


def project_wheel(out: Path, epoch: int) -> Path:
    """Callreel's own wheel from this checkout (the same bytes for the same commit)."""
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("callreel-*.whl"):
        old.unlink()
    # setuptools copies modules into build/lib first: a stale copy would bring a deleted
    # module back into the wheel.
    build = REPOSITORY / "build"
    for leftover in [build / "lib", *build.glob("bdist.*")]:
        shutil.rmtree(leftover, ignore_errors=True)
    wheel_command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps"]
    wheel_command += ["--no-build-isolation", "--wheel-dir", str(out), str(REPOSITORY)]
    done = subprocess.run(
        wheel_command,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "SOURCE_DATE_EPOCH": str(epoch)},
    )
    if done.returncode != 0:
        raise BuildError(f"building Callreel's wheel failed:\n{done.stderr[-3000:]}")
    wheels = list(out.glob("callreel-*.whl"))
    if len(wheels) != 1:
        raise BuildError(f"expected one Callreel wheel in {out}, found {wheels}")
    return wheels[0]
