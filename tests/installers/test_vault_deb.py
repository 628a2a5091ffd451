"""The vault's .deb: installed with apt, its systemd unit passes systemd's own check, and the
installed vault serves as its own system user from its data directory; purge keeps the data."""

from __future__ import annotations

import json
import pwd
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from protocol.pinned_tls import client_ssl_context
from tests.installers.conftest import (
    assert_lintian_clean,
    built,
    installed_package,
    installed_version,
    run,
)

PACKAGE = "callreel-vault"
USER = "callreel-vault"
DATA = Path("/var/lib/callreel-vault")
UNIT = Path("/lib/systemd/system/callreel-vault.service")


@pytest.fixture
def deb() -> Path:
    return built("callreel-vault_*.deb")


@pytest.fixture
def installed(deb: Path) -> Iterator[Path]:
    try:
        with installed_package(deb, PACKAGE):
            yield deb
    finally:
        run("rm", "-rf", str(DATA))  # purge keeps the vault's data, by design


def test_lintian_finds_nothing_to_report(deb: Path) -> None:
    assert_lintian_clean(deb)


def test_the_service_runs_as_its_own_user_in_a_sandbox(installed: Path) -> None:
    assert installed_version(PACKAGE) is not None
    user = pwd.getpwnam(USER)
    assert user.pw_uid < 1000, "a system user"
    assert user.pw_shell in {"/usr/sbin/nologin", "/bin/false"}
    info = DATA.stat()
    assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (user.pw_uid, 0o750)
    verified = run("systemd-analyze", "verify", str(UNIT), check=False)
    assert "callreel-vault.service" not in verified, verified
    unit = UNIT.read_text()
    for hardening in ("NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes",
                      "PrivateTmp=yes", "CapabilityBoundingSet=\n", f"User={USER}"):  # fmt: skip
        assert hardening in unit
    exposure = run("systemd-analyze", "security", "--offline=yes", str(UNIT), check=False)
    assert "Overall exposure level" in exposure, exposure


def test_the_installed_vault_serves_as_its_user_from_its_data_directory(
    installed: Path, tmp_path: Path
) -> None:
    ready = DATA / "ready.json"
    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [
                "runuser",
                "-u",
                USER,
                "--",
                "callreel-vault",
                "serve",
                "--data",
                str(DATA),
                "--port",
                "0",
                "--ready-file",
                str(ready),
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the vault did not start within 120 s"
            time.sleep(0.2)
        facts = json.loads(ready.read_text())
        context = client_ssl_context(Path(facts["certificate"]))
        with httpx.Client(verify=context) as client:
            assert client.get(f"{facts['url']}/api/v1/health").status_code == 200
    finally:
        server.terminate()
        server.wait(30)
    owners = {path.stat().st_uid for path in DATA.rglob("*")}
    assert owners == {pwd.getpwnam(USER).pw_uid}, "everything it wrote is its own"
    migrated = run("runuser", "-u", USER, "--", "callreel-vault", "migrate", "--data", str(DATA))
    assert "already at schema revision" in migrated
