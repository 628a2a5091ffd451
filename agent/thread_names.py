"""Names the calling thread for the operating system, so a profiler or `top -H` shows which of
the agent's threads spends CPU (Python's own thread names stay inside the interpreter)."""

from __future__ import annotations

import ctypes
import sys

_PR_SET_NAME = 15  # prctl(2)
_LINUX_NAME_BYTES = 15  # the kernel keeps 16 bytes with the terminating NUL


def name_native_thread(name: str) -> None:
    """Best effort: a name is a diagnostic, never a reason to fail."""
    if sys.platform != "linux":
        return
    libc = ctypes.CDLL(None)  # the process's own symbols, libc's among them: no library search
    libc.prctl(_PR_SET_NAME, name.encode("ascii", "replace")[:_LINUX_NAME_BYTES], 0, 0, 0)
