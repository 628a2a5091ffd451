"""Cost of sealing and spooling a segment, as ratios to baselines measured in the same run.

    .venv/bin/python bench/seal_spool.py [--segment-kb 150] [--rounds 200]

Baselines: one-shot AES-256-GCM over the whole segment (the cheapest authenticated encryption
possible) for sealing, and write + fsync + rename of the same bytes for spooling. A 10-second
segment at the capture targets is about 150 KB (R9: 1.5 MB per minute).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from agent.spool.spool import Spool
from protocol.keys import VaultIdentity
from protocol.segments.format import MediaType
from protocol.segments.seal import RecordingSealer


def median_seconds(action: Callable[[int], object], rounds: int) -> float:
    samples = []
    for round_number in range(rounds):
        start = time.perf_counter()
        action(round_number)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segment-kb", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    payload = os.urandom(args.segment_kb * 1024)
    recipient = VaultIdentity.generate().recipient
    sealer = RecordingSealer(recipient, uuid.uuid4())
    aes = AESGCM(AESGCM.generate_key(bit_length=256))
    nonce = os.urandom(12)

    baseline_seal = median_seconds(lambda _i: aes.encrypt(nonce, payload, None), args.rounds)
    seal = median_seconds(lambda i: sealer.seal(i, MediaType.MATROSKA, payload), args.rounds)
    new_recording = median_seconds(lambda _i: RecordingSealer(recipient, uuid.uuid4()), args.rounds)

    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        plain_dir = root / "plain"
        plain_dir.mkdir()

        def plain_write(i: int) -> None:
            temp = plain_dir / f"{i}.tmp"
            with temp.open("wb") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            temp.replace(plain_dir / f"{i}.seg")

        baseline_spool = median_seconds(plain_write, args.rounds)
        segments = [sealer.seal(i, MediaType.MATROSKA, payload) for i in range(args.rounds)]
        with Spool(root / "spool", min_free_bytes=0) as spool:
            spool_put = median_seconds(lambda i: spool.put(segments[i]), args.rounds)

    mb = len(payload) / 1e6
    print(f"segment {args.segment_kb} KB, {args.rounds} rounds, medians")
    print(
        f"seal:  {seal * 1e3:.3f} ms ({mb / seal:.0f} MB/s), "
        f"{seal / baseline_seal:.2f}x one-shot AES-256-GCM ({baseline_seal * 1e3:.3f} ms)"
    )
    print(
        f"new recording (HPKE MLKEM768-X25519 seal of the data key): {new_recording * 1e3:.3f} ms"
    )
    print(
        f"spool put: {spool_put * 1e3:.3f} ms, {spool_put / baseline_spool:.2f}x plain"
        f" write+fsync+rename ({baseline_spool * 1e3:.3f} ms)"
    )


if __name__ == "__main__":
    main()
