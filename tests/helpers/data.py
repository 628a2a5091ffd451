"""Where the tests' data lives: published vectors, SIP scenarios, the playback page, and what
an earlier release wrote."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
REPO_ROOT = TESTS.parent
DATA = TESTS / "data"
VECTORS = DATA / "vectors"
RELEASE_0_1_0 = DATA / "release-0.1.0"
