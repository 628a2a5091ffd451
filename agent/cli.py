"""`callreel-agent`: the agent's command line, one module per command in agent/commands/.

Each command's module is imported only when that command runs: a softphone waits for
`callreel-agent hook`, so that path loads nothing but the control channel.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable
from typing import cast

from protocol.version import VERSION

PROG = "callreel-agent"

COMMAND_MODULES = {
    "run": "agent.commands.run",
    "enrol": "agent.commands.enrol",
    "hook": "agent.commands.hook",
    "pause": "agent.commands.control",
    "resume": "agent.commands.control",
    "status": "agent.commands.control",
    "settings": "agent.commands.settings",
    "doctor": "agent.commands.doctor",
    "seal": "agent.commands.seal",
    "record": "agent.commands.record",
}
"""Which module runs each command (its `run_command`); imported only for that command."""


def build_parser() -> argparse.ArgumentParser:
    # Imported here: `callreel-agent hook` must not pay for these (see main).
    from agent.commands.control import add_control_parsers  # noqa: PLC0415
    from agent.commands.doctor import add_doctor_parser  # noqa: PLC0415
    from agent.commands.enrol import add_enrol_parser  # noqa: PLC0415
    from agent.commands.hook import add_hook_parser  # noqa: PLC0415
    from agent.commands.record import add_record_parser  # noqa: PLC0415
    from agent.commands.run import add_run_parser  # noqa: PLC0415
    from agent.commands.seal import add_seal_parser  # noqa: PLC0415
    from agent.commands.settings import add_settings_parser  # noqa: PLC0415

    parser = argparse.ArgumentParser(prog=PROG, description="Callreel training-recording agent.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {VERSION}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    add_run_parser(commands)
    add_enrol_parser(commands)
    add_hook_parser(commands)
    add_control_parsers(commands)
    add_settings_parser(commands)
    add_doctor_parser(commands)

    add_seal_parser(commands)
    add_record_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["hook"]:
        # The softphone waits for this command: skip the full parser and its imports.
        from agent.commands.hook import main as hook_main  # noqa: PLC0415

        return hook_main(argv[1:])
    args = build_parser().parse_args(argv)
    module = importlib.import_module(COMMAND_MODULES[args.command])
    run_command = cast(Callable[[argparse.Namespace], int], module.run_command)
    return run_command(args)


if __name__ == "__main__":
    sys.exit(main())
