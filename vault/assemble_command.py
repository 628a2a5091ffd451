"""`callreel-vault assemble`: decrypt a recording's segments from a spool and join them."""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class SpooledRecording:
    """A recording's decrypted media segments, in order, and its metadata if it ended."""

    media: list[bytes]
    container: str
    metadata: dict[str, object] | None


def open_spooled_recording(
    spool: Spool, identity: VaultIdentity, recording: uuid.UUID
) -> SpooledRecording:
    """Decrypt every segment of `recording` in `spool`; AssembleError if any is missing."""
    entries = sorted(
        (s for s in spool.pending() if s.recording_id == recording),
        key=lambda s: s.segment_index,
    )
    media = [s for s in entries if s.media_type in CONTAINERS]
    if not media:
        raise AssembleError(f"no media segments of recording {recording} in the spool")
    indices = [s.segment_index for s in media]
    if indices != list(range(indices[0], indices[0] + len(indices))):
        raise AssembleError(f"segments are missing: have {indices}")
    opened = [
        open_segment(
            identity, spool.read(s), expect_recording=recording, expect_index=s.segment_index
        )[1]
        for s in media
    ]
    metadata = None
    for entry in entries:
        if entry.media_type is MediaType.JSON:
            text = open_segment(
                identity,
                spool.read(entry),
                expect_recording=recording,
                expect_index=entry.segment_index,
            )[1]
            metadata = _parse_metadata(text)
    return SpooledRecording(opened, CONTAINERS[media[0].media_type], metadata)


def _parse_metadata(data: bytes) -> dict[str, object]:
    try:
        parsed = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AssembleError(f"the recording's metadata segment is not JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise AssembleError("the recording's metadata segment is not a JSON object")
    return parsed


def run_assemble(args: argparse.Namespace) -> int:
    try:
        identity = VaultIdentity.load(args.identity)
        with Spool(args.spool, min_free_bytes=0) as spool:
            recording = open_spooled_recording(spool, identity, args.recording)
        joined = join_segments(recording.media, recording.container)
        with atomic_output(args.out) as sink:
            sink.write(joined)
    except (KeyFileError, SpoolError, SegmentError, AssembleError, OSError) as exc:
        return _fail(str(exc))
    print(f"recording {args.recording}: {len(recording.media)} segments joined into {args.out}")
    return 0
