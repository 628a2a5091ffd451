"""`callreel-agent`: the agent's command line.

Each command's module is imported only when that command runs: a softphone waits for
`callreel-agent hook`, so that path loads nothing but the control channel.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from protocol.version import VERSION

PROG = "callreel-agent"


def build_parser() -> argparse.ArgumentParser:
    # Imported here: `callreel-agent hook` must not pay for these (see main).
    from agent.control_commands import add_control_parsers  # noqa: PLC0415
    from agent.doctor import add_doctor_parser  # noqa: PLC0415
    from agent.enrol_command import add_enrol_parser  # noqa: PLC0415
    from agent.record_command import add_record_parser  # noqa: PLC0415
    from agent.seal_command import add_seal_parser  # noqa: PLC0415
    from agent.settings_command import add_settings_parser  # noqa: PLC0415
    from agent.telephony.hook_command import add_hook_parser  # noqa: PLC0415

    parser = argparse.ArgumentParser(prog=PROG, description="Callreel training-recording agent.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {VERSION}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    _add_run_parser(commands)
    add_enrol_parser(commands)
    add_hook_parser(commands)
    add_control_parsers(commands)
    add_settings_parser(commands)
    add_doctor_parser(commands)

    add_seal_parser(commands)
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


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["hook"]:
        # The softphone waits for this command: skip the full parser and its imports.
        from agent.telephony.hook_command import main as hook_main  # noqa: PLC0415

        return hook_main(argv[1:])
    args = build_parser().parse_args(argv)
    command = args.command
    if command == "seal":
        from agent.seal_command import run_seal  # noqa: PLC0415

        return run_seal(args)
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
        from agent.doctor import run_doctor_command  # noqa: PLC0415

        return run_doctor_command(args)
    from agent.app import run_agent  # noqa: PLC0415 - Qt loads only for the tray agent

    return run_agent(args)


if __name__ == "__main__":
    sys.exit(main())
