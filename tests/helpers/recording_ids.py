"""Predictable recording ids for tests: rec(1), rec(2)... as the machine's RecordingId."""

from __future__ import annotations

import uuid


def rec(number: int) -> uuid.UUID:
    return uuid.UUID(int=number)
