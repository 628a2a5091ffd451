"""`callreel-agent`: the agent's command line."""

from __future__ import annotations

import argparse
import sys
import uuid
from pathlib import Path

from agent import __version__
from agent.atomic import atomic_output
from agent.crypto.format import DEFAULT_CHUNK_EXPONENT, MAX_SEGMENT_INDEX, MediaType
from agent.crypto.keys import KeyFileError, VaultRecipient
from agent.crypto.seal import RecordingSealer

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


def build_parser() -> argparse.ArgumentParser:
    # Imported here: `callreel-agent hook` must not pay for these (see main).
    from agent.control_commands import add_control_parsers  # noqa: PLC0415
    from agent.doctor import add_doctor_parser  # noqa: PLC0415
    from agent.enrol_command import add_enrol_parser  # noqa: PLC0415
    from agent.record_command import add_record_parser  # noqa: PLC0415
    from agent.settings_command import add_settings_parser  # noqa: PLC0415
    from agent.telephony.hook_command import add_hook_parser  # noqa: PLC0415

    parser = argparse.ArgumentParser(prog=PROG, description="Callreel training-recording agent.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    _add_run_parser(commands)
    add_enrol_parser(commands)
    add_hook_parser(commands)
    add_control_parsers(commands)
    add_settings_parser(commands)
    add_doctor_parser(commands)

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
    add_record_parser(commands)
    return parser


def _add_run_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = commands.add_parser(
        "run",
        help="start the tray agent",
        description="Start the Callreel tray agent. With no vault_url in the managed policy it"
        " starts a local vault of its own (the embedded default) and enrols against it.",
    )
    run.add_argument(
        "--root",
        type=Path,
        metavar="DIR",
        help="keep settings, enrolment, spool and runtime files under DIR (tests, demos)",
    )
    run.add_argument(
        "--policy-file",
        type=Path,
        metavar="FILE",
        help="managed policy TOML (default /etc/callreel/policy.toml); it must be owned by"
        " root and not writable by others, like the default",
    )
    run.add_argument("--open-window", action="store_true", help="open the agent's window at start")


def _fail(message: str) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return 1


def _seal(args: argparse.Namespace) -> int:
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


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["hook"]:
        # The softphone waits for this command: skip the full parser and its imports.
        from agent.telephony.hook_command import main as hook_main  # noqa: PLC0415

        return hook_main(argv[1:])
    args = build_parser().parse_args(argv)
    command = args.command
    if command == "seal":
        return _seal(args)
    if command == "record":
        from agent.record_command import run_record  # noqa: PLC0415

        return run_record(args)
    if command in ("pause", "resume", "status"):
        from agent.control_commands import run_control  # noqa: PLC0415

        return run_control(args)
    if command == "enrol":
        from agent.enrol_command import run_enrol  # noqa: PLC0415

        return run_enrol(args)
    if command == "settings":
        from agent.settings_command import run_settings  # noqa: PLC0415

        return run_settings(args)
    if command == "doctor":
        from agent.doctor import run_doctor  # noqa: PLC0415

        return run_doctor(args)
    from agent.app import run_agent  # noqa: PLC0415 - Qt loads only for the tray agent

    return run_agent(args)


if __name__ == "__main__":
    sys.exit(main())
