"""A process's CPU time per thread, read from /proc: where a process's CPU goes, by thread name.

Threads that name themselves (agent/thread_names.py) are told apart; native threads a library
starts (x264's workers, PortAudio's) take the name of the thread that started them, or their
library's; the main thread is marked as such.
"""

from __future__ import annotations

import collections
import os
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def _thread_seconds(stat: str) -> tuple[str, float]:
    # The name is in parentheses and may itself hold spaces or parentheses: split at the last.
    name = stat[stat.index("(") + 1 : stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2 :].split()
    # utime and stime are fields 14 and 15 of proc(5); fields[0] here is field 3 (state).
    return name, (int(fields[11]) + int(fields[12])) / _TICKS


def thread_cpu(pid: int) -> dict[int, tuple[str, float]]:
    """Each live thread's (name, user + system CPU seconds), by thread id; empty once gone."""
    threads: dict[int, tuple[str, float]] = {}
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except (FileNotFoundError, ProcessLookupError):
        return threads
    for task in tasks:
        try:
            name, seconds = _thread_seconds((task / "stat").read_text())
            if int(task.name) == pid:
                name = f"{name} (main thread)"
            threads[int(task.name)] = (name, seconds)
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue  # the thread ended between the listing and the read
    return threads


class ThreadCpuSampler:
    """Keeps each thread's last figure seen, so threads that end before the process still count
    (up to one sampling interval of their CPU)."""

    def __init__(self, pid: int) -> None:
        self._pid = pid
        self._last: dict[int, tuple[str, float]] = {}

    def sample(self) -> None:
        self._last.update(thread_cpu(self._pid))

    def by_name(self) -> dict[str, float]:
        """CPU seconds summed over the threads of each name, largest first."""
        totals: dict[str, float] = collections.defaultdict(float)
        for name, seconds in self._last.values():
            totals[name] += seconds
        return dict(sorted(totals.items(), key=lambda item: -item[1]))
