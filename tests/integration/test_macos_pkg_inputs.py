"""The pkg's inputs written to disk and assembled by bsdtar into a flat component package:
the xar holds PackageInfo, Payload and Scripts, and the gzipped cpio payload and scripts hold
the app's Info.plist, the LaunchAgent and the install scripts."""

from __future__ import annotations

import gzip
import plistlib
import subprocess
from pathlib import Path

from installers.macos import pkg_inputs


def _listing(archive: bytes) -> list[str]:
    done = subprocess.run(
        ["cpio", "-t", "--quiet"], input=gzip.decompress(archive), capture_output=True, check=True
    )
    return [name.removeprefix("./") for name in done.stdout.decode().split()]


def test_the_flat_package_has_its_parts_and_the_payload_the_launch_agent(tmp_path: Path) -> None:
    inputs = pkg_inputs.write_inputs(tmp_path, 1_700_000_000, "ABCDE12345")
    pkg = pkg_inputs.flat_component(inputs, 1_700_000_000)
    parts = subprocess.run(["bsdtar", "-tf", str(pkg)], capture_output=True, text=True, check=True)
    assert parts.stdout.split() == ["PackageInfo", "Payload", "Scripts"]

    def part(name: str) -> bytes:
        return subprocess.run(
            ["bsdtar", "-xOf", str(pkg), name], capture_output=True, check=True
        ).stdout

    assert part("PackageInfo").decode() == (inputs / "PackageInfo").read_text()
    payload = _listing(part("Payload"))
    assert f"{pkg_inputs.APP}/Contents/Info.plist" in payload
    assert pkg_inputs.LAUNCH_AGENT in payload
    assert {"preinstall", "postinstall"} <= set(_listing(part("Scripts")))
    agent = plistlib.loads((inputs / "payload" / pkg_inputs.LAUNCH_AGENT).read_bytes())
    assert agent == pkg_inputs.launch_agent()
    assert (inputs / "scripts" / "postinstall").stat().st_mode & 0o111
