"""`callreel-vault assemble`: decrypt a recording's sealed segment files and join them.

It reads a directory of sealed segment files (an agent's spool, or segments copied off one)
as plain files: no spool is opened, locked or recovered, so it is safe beside a running agent
and on a copy taken from a broken machine.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from protocol.atomic_files import atomic_output
from protocol.keys import KeyFileError, VaultIdentity
from protocol.recording_metadata import MetadataError, RecordingMetadataView, parse_metadata
from protocol.segments.format import (
    HEADER_LEN,
    MediaType,
    SegmentError,
    SegmentHeader,
    parse_header,
    read_up_to,
)
from protocol.segments.unseal import open_segment
from vault.assemble import AssembleError, join_segments

CONTAINERS = {MediaType.MATROSKA: "webm", MediaType.MP4: "mp4"}
SEGMENT_SUFFIX = ".seg"
MAX_SEGMENT_FILE_BYTES = 64 * 1024 * 1024
"""As the vault's upload limit: a 10 s segment is about 100-200 KB."""


def add_assemble_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    assemble = commands.add_parser(
        "assemble",
        help="decrypt and join one recording from its sealed segment files, for checking",
        description="Open every media segment of RECORDING found in DIR with the vault"
        " identity and join them, without re-encoding, into FILE. DIR holds sealed segment"
        " files (*.seg), such as an agent's spool directory; it is only read.",
    )
    assemble.add_argument("--identity", type=Path, required=True)
    assemble.add_argument(
        "--segments",
        "--spool",
        dest="segments",
        type=Path,
        required=True,
        metavar="DIR",
        help="directory of sealed segment files, e.g. an agent's spool",
    )
    assemble.add_argument("--recording", type=uuid.UUID, required=True, metavar="UUID")
    assemble.add_argument("--out", type=Path, required=True, metavar="FILE")


def _fail(message: str) -> int:
    print(f"callreel-vault assemble: {message}", file=sys.stderr)
    return 1


@dataclass(frozen=True, slots=True)
class SealedRecording:
    """A recording's decrypted media segments, in order, and its metadata if it ended."""

    media: list[bytes]
    container: str
    metadata: RecordingMetadataView | None


def _segment_files(directory: Path) -> list[Path]:
    # An agent's spool keeps its segments one level down; a copy may hold them directly.
    inner = directory / "segments"
    where = inner if inner.is_dir() else directory
    if not where.is_dir():
        raise AssembleError(f"{directory} is not a directory of sealed segments")
    return sorted(where.glob(f"*{SEGMENT_SUFFIX}"))


def _headers_of(recording: uuid.UUID, files: list[Path]) -> list[tuple[SegmentHeader, Path]]:
    found = []
    for path in files:
        with path.open("rb") as handle:
            try:
                header = parse_header(read_up_to(handle, HEADER_LEN))
            except SegmentError:
                continue  # not a sealed segment: another file that happens to end in .seg
        if header.recording_id == recording:
            found.append((header, path))
    return found


def _read_segment(path: Path) -> bytes:
    with path.open("rb") as handle:
        data = handle.read(MAX_SEGMENT_FILE_BYTES + 1)
    if len(data) > MAX_SEGMENT_FILE_BYTES:
        raise AssembleError(f"{path} is larger than {MAX_SEGMENT_FILE_BYTES} bytes")
    return data


def open_sealed_recording(
    directory: Path, identity: VaultIdentity, recording: uuid.UUID
) -> SealedRecording:
    """Decrypt every segment of `recording` in `directory`; AssembleError if any is missing."""
    headers = _headers_of(recording, _segment_files(directory))
    media = sorted(
        ((h, p) for h, p in headers if h.media_type in CONTAINERS),
        key=lambda entry: entry[0].segment_index,
    )
    if not media:
        raise AssembleError(f"no media segments of recording {recording} in {directory}")
    indices = [header.segment_index for header, _ in media]
    if indices != list(range(indices[0], indices[0] + len(indices))):
        raise AssembleError(f"segments are missing: have {indices}")
    opened = [
        open_segment(
            identity,
            _read_segment(path),
            expect_recording=recording,
            expect_index=header.segment_index,
        )[1]
        for header, path in media
    ]
    metadata = None
    for header, path in headers:
        if header.media_type is MediaType.JSON:
            text = open_segment(
                identity,
                _read_segment(path),
                expect_recording=recording,
                expect_index=header.segment_index,
            )[1]
            try:
                metadata = parse_metadata(text)
            except MetadataError as exc:
                raise AssembleError(f"the recording's metadata segment: {exc}") from None
    return SealedRecording(opened, CONTAINERS[media[0][0].media_type], metadata)


def describe_metadata(metadata: RecordingMetadataView | None) -> str:
    """One line on what the recording's metadata says about its gaps."""
    if metadata is None:
        return "no metadata segment (the recording did not end, or it is still on its way)"
    if metadata.note is not None and metadata.pauses is None:
        return metadata.note
    pauses = "unknown" if metadata.pauses is None else str(len(metadata.pauses))
    blanked = (
        "unknown"
        if metadata.blank_counts is None
        else str(sum(count.frames for count in metadata.blank_counts))
    )
    consent = "unknown" if metadata.consent is None else metadata.consent.mode.value
    line = (
        f"metadata version {metadata.version}: {metadata.media_segments} media segments,"
        f" {pauses} pauses, {blanked} frames blacked out, consent {consent}"
    )
    return line if metadata.note is None else f"{line} ({metadata.note})"


def run_assemble(args: argparse.Namespace) -> int:
    try:
        identity = VaultIdentity.load(args.identity)
        recording = open_sealed_recording(args.segments, identity, args.recording)
        joined = join_segments(recording.media, recording.container)
        with atomic_output(args.out) as sink:
            sink.write(joined)
    except (KeyFileError, SegmentError, AssembleError, OSError) as exc:
        return _fail(str(exc))
    print(f"recording {args.recording}: {len(recording.media)} segments joined into {args.out}")
    print(describe_metadata(recording.metadata))
    return 0
