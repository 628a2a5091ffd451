"""debian/copyright in the machine-readable format: Callreel's own licence, then every
distribution bundled in the package's virtual environment with the licence its metadata
declares and where the full text is (each wheel carries its own licence files)."""

from __future__ import annotations

import csv
import io
import re
from email.parser import HeaderParser
from pathlib import Path

HEADER = """\
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: Callreel
Source: https://github.com/callreel/callreel

Files: *
Copyright: Callreel contributors
License: Apache-2.0
"""

APACHE = """\
License: Apache-2.0
 On Debian systems, the full text of the Apache License, Version 2.0, is in
 /usr/share/common-licenses/Apache-2.0.
"""

_CLASSIFIER = re.compile(r"License :: (?:OSI Approved :: )?(.+)")


def _licence_name(metadata: dict[str, str], classifiers: list[str]) -> str:
    declared = metadata.get("License-Expression") or ""
    if not declared:
        text = (metadata.get("License") or "").strip()
        if text and "\n" not in text and len(text) <= 60:
            declared = text
    if not declared:
        found = [m.group(1) for c in classifiers if (m := _CLASSIFIER.match(c))]
        declared = " or ".join(found) if found else "unknown"
    # A DEP-5 short name has no spaces; "BSD License" becomes "BSD-License".
    return " or ".join(
        "-".join(part.split()) for part in re.split(r"\s+or\s+", declared.strip(), flags=re.I)
    )


def _top_level_paths(dist_info: Path, stage: Path) -> list[str]:
    site = dist_info.parent
    tops: dict[str, None] = {}
    record = dist_info / "RECORD"
    rows: list[list[str]] = (
        list(csv.reader(io.StringIO(record.read_text()))) if record.exists() else []
    )
    for row in rows:
        if not row:
            continue
        target = (site / row[0]).resolve()
        try:
            relative = target.relative_to(site.resolve())
        except ValueError:
            continue  # scripts in bin/ belong to Files: * as launchers
        first = relative.parts[0]
        tops[first if len(relative.parts) == 1 else f"{first}/*"] = None
    base = site.relative_to(stage)
    return [f"{base}/{top}" for top in sorted(tops)]


def copyright_text(stage: Path, bundled_under: str) -> str:
    paragraphs = [HEADER]
    licences: dict[str, list[str]] = {}
    if bundled_under:
        venv = stage / bundled_under.lstrip("/")
        for dist_info in sorted(venv.glob("lib/python3*/site-packages/*.dist-info")):
            parsed = HeaderParser().parsestr((dist_info / "METADATA").read_text(errors="replace"))
            metadata = {key: str(value) for key, value in parsed.items()}
            if metadata.get("Name", "").lower() == "callreel":
                continue
            name = _licence_name(metadata, parsed.get_all("Classifier") or [])
            licences.setdefault(name, []).append(f"{dist_info.relative_to(stage)}/")
            files = " ".join(_top_level_paths(dist_info, stage))
            paragraphs.append(
                f"Files: {files}\nCopyright: the authors of {metadata.get('Name')}"
                f" {metadata.get('Version')}\nLicense: {name}\n"
            )
    paragraphs.append(APACHE)
    for name, where in sorted(licences.items()):
        if name == "Apache-2.0":
            continue
        paragraphs.append(
            f"License: {name}\n The full text is in the licence files of the package's own"
            " metadata:\n" + "".join(f" {path}\n" for path in where)
        )
    return "\n".join(paragraphs)
