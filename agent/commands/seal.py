"""`callreel-agent seal`: encrypt a file as one sealed segment, exactly as the agent does."""

from __future__ import annotations

import argparse
import sys
import uuid
from pathlib import Path

from protocol.atomic_files import atomic_output
from protocol.keys import KeyFileError, VaultRecipient
from protocol.segments.format import DEFAULT_CHUNK_EXPONENT, MAX_SEGMENT_INDEX, MediaType
from protocol.segments.seal import RecordingSealer

PROG = "callreel-agent"


def _recording_id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a recording id; use a UUID such as {uuid.uuid4()}"
        ) from None


def _segment_index(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_SEGMENT_INDEX:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a segment number; use 0 to {MAX_SEGMENT_INDEX}"
        )
    return value


def _media_type(text: str) -> MediaType:
    try:
        return MediaType.from_label(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_seal_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    seal = commands.add_parser(
        "seal",
        help="encrypt a file as one sealed segment, exactly as the agent does",
        description="Seal IN to the vault's recipient key as segment N of a recording.",
    )
    seal.add_argument("--recipient", type=Path, required=True, help="vault recipient key file")
    seal.add_argument("--recording-id", type=_recording_id, required=True, metavar="UUID")
    seal.add_argument("--segment", type=_segment_index, required=True, metavar="N")
    seal.add_argument(
        "--media-type",
        type=_media_type,
        default=MediaType.MATROSKA,
        metavar="{" + ",".join(m.label for m in MediaType) + "}",
        help="what IN holds (default: mkv)",
    )
    seal.add_argument("input", type=Path, metavar="IN")
    seal.add_argument("output", type=Path, metavar="OUT")


def _fail(message: str) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return 1


def run_command(args: argparse.Namespace) -> int:
    try:
        recipient = VaultRecipient.load(args.recipient)
    except KeyFileError as exc:
        return _fail(str(exc))
    sealer = RecordingSealer(recipient, args.recording_id, chunk_exponent=DEFAULT_CHUNK_EXPONENT)
    try:
        with args.input.open("rb") as source, atomic_output(args.output) as sink:
            size = sealer.seal_stream(args.segment, args.media_type, source, sink)
    except OSError as exc:
        return _fail(f"cannot seal {args.input} to {args.output}: {exc.strerror or exc}")
    finally:
        sealer.destroy()
    print(
        f"sealed {size} bytes as segment {args.segment} of recording {args.recording_id}"
        f" to vault key {recipient.key_id.hex()}: {args.output}"
    )
    return 0
