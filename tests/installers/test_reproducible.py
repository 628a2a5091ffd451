"""Two builds of one commit give the same bytes (SOURCE_DATE_EPOCH, fixed owners and modes,
hash-pinned wheels): anyone can check that a package is what this commit builds."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.installers.conftest import built, run


def test_a_second_build_of_the_vault_package_is_byte_identical(tmp_path: Path) -> None:
    first = built("callreel-vault_*.deb")
    run(sys.executable, "-m", "installers.build", "vault-deb", "--out", str(tmp_path))
    second = tmp_path / first.name
    if second.read_bytes() != first.read_bytes():
        listings = [run("dpkg-deb", "--contents", str(deb)).splitlines() for deb in (first, second)]
        differing = [pair for pair in zip(*listings, strict=False) if pair[0] != pair[1]]
        raise AssertionError(f"{first} and {second} differ; first entries: {differing[:5]}")
