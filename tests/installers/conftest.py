"""The built packages, installed into this machine's system as IT would (root, dpkg, apt).

installers/check builds them into dist/ first, then runs these with `--installers`; each test
leaves the system as it found it (the package removed and purged)."""

from __future__ import annotations

import contextlib
import os
import pwd
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]
DIST = REPOSITORY / "dist"


def built(pattern: str) -> Path:
    found = sorted(DIST.glob(pattern))
    if len(found) != 1:
        pytest.fail(
            f"expected one {pattern} in {DIST}, found {[p.name for p in found]}: run"
            " installers/build first (installers/check does)",
            pytrace=False,
        )
    return found[0]


def run(*command: str, check: bool = True, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        command, capture_output=True, text=True, check=False, env=env, timeout=900
    )
    if check and done.returncode != 0:
        pytest.fail(
            f"{' '.join(command)} exited {done.returncode}:\n{done.stdout[-4000:]}"
            f"\n{done.stderr[-4000:]}",
            pytrace=False,
        )
    return done.stdout + done.stderr


def install(deb: Path) -> None:
    run("apt-get", "install", "-y", "-q", "--no-install-recommends", str(deb))


@contextlib.contextmanager
def installed_package(deb: Path, package: str) -> Iterator[Path]:
    """`deb` installed with apt for the block, purged after it."""
    install(deb)
    try:
        yield deb
    finally:
        run("dpkg", "--purge", package)


def system_user(name: str) -> None:
    """The OS account `name` (a system user with no home), made if missing. Accounts are left
    in place afterwards: a later run, or another test, finds them."""
    try:
        pwd.getpwnam(name)
    except KeyError:
        run("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name)


def assert_lintian_clean(deb: Path) -> None:
    report = run("lintian", "--fail-on", "error,warning", "--tag-display-limit", "0", str(deb))
    assert "E:" not in report
    assert "W:" not in report


def installed_version(package: str) -> str | None:
    done = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Status} ${Version}", package],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0 or "install ok installed" not in done.stdout:
        return None
    return done.stdout.split()[-1]


@pytest.fixture(autouse=True)
def _as_root() -> None:
    if os.geteuid() != 0:
        pytest.fail("installer tests install packages: run them as root", pytrace=False)
