"""Child process for the spool crash tests: writes and acknowledges segments until killed.

Usage: python -m tests.children.spool_child SPOOL_DIR SEED [KILL_AT_CALL [before|after]]

Prints `spooled <sha>` once `put()` has returned, `acking <sha>` before `acknowledge()` and
`acked <sha>` once it has returned, flushing each line, so the parent knows exactly what the
spool promised. With KILL_AT_CALL it SIGKILLs itself at that file-system call (write, fsync,
replace, unlink).
"""

from __future__ import annotations

import os
import random
import signal
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.spool.spool import RecordingState, Spool
from protocol.keys import VaultRecipient
from protocol.segments.format import MediaType
from protocol.segments.seal import RecordingSealer
from tests.helpers.data import VECTORS

RECIPIENT = VECTORS / "test-recipient.pub"


def _arm_kill_switch(kill_at: int, when: str) -> None:
    calls = 0

    def wrap(function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            nonlocal calls
            calls += 1
            if calls == kill_at and when == "before":
                os.kill(os.getpid(), signal.SIGKILL)
            result = function(*args, **kwargs)
            if calls == kill_at and when == "after":
                os.kill(os.getpid(), signal.SIGKILL)
            return result

        return wrapper

    for name in ("write", "fsync", "replace", "unlink"):
        setattr(os, name, wrap(getattr(os, name)))


def main() -> None:
    spool_dir, seed = Path(sys.argv[1]), int(sys.argv[2])
    rng = random.Random(seed)
    recipient = VaultRecipient.load(RECIPIENT)
    spool = Spool(spool_dir, min_free_bytes=0)
    if len(sys.argv) > 3:
        _arm_kill_switch(int(sys.argv[3]), sys.argv[4])
    print("ready", flush=True)
    spooled: list[str] = []
    while True:
        recording = uuid.uuid4()  # a restarted agent never reuses a recording id
        sealer = RecordingSealer(recipient, recording)
        for index in range(rng.randint(1, 4)):
            sealed = sealer.seal(index, MediaType.MATROSKA, rng.randbytes(rng.randint(0, 150_000)))
            spooled.append(spool.put(sealed).sha256)
            print(f"spooled {spooled[-1]}", flush=True)
            if rng.random() < 0.4:
                sha = spooled.pop(rng.randrange(len(spooled)))
                print(f"acking {sha}", flush=True)
                spool.acknowledge(sha)
                print(f"acked {sha}", flush=True)
        spool.set_recording_state(recording, RecordingState.COMPLETE)


if __name__ == "__main__":
    main()
