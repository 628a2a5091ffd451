"""`callreel-vault assemble`: decrypt a recording's segments from a spool and join them."""

from __future__ import annotations

import argparse
import sys
import uuid
from pathlib import Path

from agent.atomic import atomic_output
from agent.crypto.format import MediaType, SegmentError
from agent.crypto.keys import KeyFileError, VaultIdentity
from agent.crypto.unseal import open_segment
from agent.spool import Spool, SpoolError
from vault.assemble import AssembleError, join_segments

CONTAINERS = {MediaType.MATROSKA: "webm", MediaType.MP4: "mp4"}


def add_assemble_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    assemble = commands.add_parser(
        "assemble",
        help="decrypt and join one recording from a spool, for checking",
        description="Open every media segment of RECORDING in the spool with the vault"
        " identity and join them, without re-encoding, into FILE.",
    )
    assemble.add_argument("--identity", type=Path, required=True)
    assemble.add_argument("--spool", type=Path, required=True, metavar="DIR")
    assemble.add_argument("--recording", type=uuid.UUID, required=True, metavar="UUID")
    assemble.add_argument("--out", type=Path, required=True, metavar="FILE")


def _fail(message: str) -> int:
    print(f"callreel-vault assemble: {message}", file=sys.stderr)
    return 1


def run_assemble(args: argparse.Namespace) -> int:
    try:
        identity = VaultIdentity.load(args.identity)
        with Spool(args.spool, min_free_bytes=0) as spool:
            entries = sorted(
                (s for s in spool.pending() if s.recording_id == args.recording),
                key=lambda s: s.segment_index,
            )
            media = [s for s in entries if s.media_type in CONTAINERS]
            if not media:
                return _fail(f"no media segments of recording {args.recording} in {args.spool}")
            indices = [s.segment_index for s in media]
            if indices != list(range(indices[0], indices[0] + len(indices))):
                return _fail(f"segments are missing: have {indices}")
            opened = [
                open_segment(
                    identity,
                    spool.read(s),
                    expect_recording=args.recording,
                    expect_index=s.segment_index,
                )[1]
                for s in media
            ]
        joined = join_segments(opened, CONTAINERS[media[0].media_type])
        with atomic_output(args.out) as sink:
            sink.write(joined)
    except (KeyFileError, SpoolError, SegmentError, AssembleError, OSError) as exc:
        return _fail(str(exc))
    print(f"recording {args.recording}: {len(media)} segments joined into {args.out}")
    return 0
