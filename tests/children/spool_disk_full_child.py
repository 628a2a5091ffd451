"""Runs inside a private mount namespace on a tiny tmpfs: fill the disk through the spool.

Usage: python -m tests.children.spool_disk_full_child SPOOL_DIR. Prints one JSON report.
"""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

from agent.spool.spool import Spool, SpoolFullError
from protocol.keys import VaultRecipient
from protocol.segments.format import MediaType
from protocol.segments.seal import RecordingSealer
from tests.helpers.data import VECTORS

RECIPIENT = VECTORS / "test-recipient.pub"


def main() -> None:
    root = Path(sys.argv[1])
    sealer = RecordingSealer(VaultRecipient.load(RECIPIENT), uuid.uuid4())
    report: dict[str, object] = {}
    with Spool(root, min_free_bytes=0) as spool:
        stored = []
        error = ""
        for index in range(1000):
            try:
                stored.append(spool.put(sealer.seal(index, MediaType.MATROSKA, b"v" * 60_000)))
            except SpoolFullError as exc:
                error = str(exc)
                break
        report["stored"] = len(stored)
        report["error"] = error
        report["status_error"] = spool.status().error
        report["intact"] = all(len(spool.read(s)) == s.size for s in stored)
        report["pending"] = len(spool.pending())
        report["tmp_files"] = len(list((root / "tmp").iterdir()))
        spool.acknowledge(stored[0].sha256)
        spool.acknowledge(stored[1].sha256)
        report["after_ack_put"] = spool.put(
            sealer.seal(5000, MediaType.MATROSKA, b"v" * 60_000)
        ).size
        report["status_error_after"] = spool.status().error
    print(json.dumps(report))


if __name__ == "__main__":
    main()
