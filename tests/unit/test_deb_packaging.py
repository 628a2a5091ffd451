"""The pure parts of the .deb builds: what counts as a program, fixed times and modes, the
control fields' rules, and the copyright of bundled wheels."""

from __future__ import annotations

import stat
from pathlib import Path

from installers.deb import agent, vault
from installers.deb.licences import copyright_text
from installers.deb.package import _long_description
from installers.deb.python_env import glibc_dependency, next_minor
from installers.reproducible import normalise_tree


def test_only_scripts_outside_packages_and_executables_stay_executable(tmp_path: Path) -> None:
    site = tmp_path / "lib" / "python3.11" / "site-packages" / "pkg"
    site.mkdir(parents=True)
    (tmp_path / "bin").mkdir()
    files = {
        tmp_path / "bin" / "tool": b"#!/usr/lib/x/bin/python\nprint()\n",
        site / "module.py": b"#!python\nprint()\n",
        site / "lib.so.6": b"\x7fELF\x02\x01\x01" + b"\0" * 9 + b"\x03\x00",
        site / "helper": b"\x7fELF\x02\x01\x01" + b"\0" * 9 + b"\x03\x00",
        site / "data.txt": b"plain",
    }
    for path, data in files.items():
        path.write_bytes(data)
        path.chmod(0o775)
    normalise_tree(tmp_path, 1_700_000_000)
    modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in files}
    assert modes == {"tool": 0o755, "module.py": 0o644, "lib.so.6": 0o644, "helper": 0o755,
                     "data.txt": 0o644}  # fmt: skip
    assert {int(path.stat().st_mtime) for path in tmp_path.rglob("*")} == {1_700_000_000}


def test_descriptions_keep_within_debian_line_width(tmp_path: Path) -> None:
    for package in (agent.package(tmp_path, "3.11"), vault.package(tmp_path, "3.11")):
        lines = _long_description(package.description).splitlines()
        assert all(len(line) <= 80 for line in lines), package.name
        assert all(line.startswith(" ") for line in lines)
        assert len(package.summary) <= 80
        for script in package.scripts.values():
            assert script.startswith("#!/bin/sh\nset -e\n")


def test_the_python_and_glibc_dependencies_follow_the_wheels(tmp_path: Path) -> None:
    assert next_minor("3.11") == "3.12"
    wheel = tmp_path / "lib" / "python3.11" / "site-packages" / "x-1.dist-info" / "WHEEL"
    wheel.parent.mkdir(parents=True)
    wheel.write_text(
        "Tag: cp311-cp311-manylinux_2_28_x86_64\nTag: cp311-cp311-manylinux_2_17_x86_64\n"
    )
    assert glibc_dependency(tmp_path) == "libc6 (>= 2.28)"


def test_bundled_wheels_are_listed_with_their_declared_licences(tmp_path: Path) -> None:
    site = tmp_path / "usr" / "lib" / "x" / "lib" / "python3.11" / "site-packages"
    info = site / "demo-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Name: demo\nVersion: 1.0\nLicense-Expression: MIT\n")
    (info / "RECORD").write_text("demo/__init__.py,,\ndemo-1.0.dist-info/METADATA,,\n")
    text = copyright_text(tmp_path, "/usr/lib/x")
    assert "Files: usr/lib/x/lib/python3.11/site-packages/demo-1.0.dist-info/*" in text
    assert "usr/lib/x/lib/python3.11/site-packages/demo/*" in text
    assert "License: MIT\n The full text" in text
    assert text.startswith(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
    )
