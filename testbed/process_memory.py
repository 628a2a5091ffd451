"""A process's resident memory, read from /proc: the one place tests and benchmarks get it."""

from __future__ import annotations

from pathlib import Path


def _status_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/{pid}/status has no {field}")


def rss_mb(pid: int) -> float:
    """Resident memory now (VmRSS), in MiB."""
    return _status_mb(pid, "VmRSS")


def peak_rss_mb(pid: int) -> float:
    """The highest resident memory so far (VmHWM), in MiB: catches a peak between samples."""
    return _status_mb(pid, "VmHWM")


def anonymous_rss_mb(pid: int) -> float:
    """Resident memory of the process's own allocations (RssAnon), in MiB: file mappings such
    as shared libraries and memory-mapped inputs left out."""
    return _status_mb(pid, "RssAnon")
