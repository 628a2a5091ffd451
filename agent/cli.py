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


PARSER_ADDERS = {
    "agent.commands.run": "add_run_parser",
    "agent.commands.enrol": "add_enrol_parser",
    "agent.commands.hook": "add_hook_parser",
    "agent.commands.control": "add_control_parsers",
    "agent.commands.settings": "add_settings_parser",
    "agent.commands.doctor": "add_doctor_parser",
    "agent.commands.seal": "add_seal_parser",
    "agent.commands.record": "add_record_parser",
}
"""The function in each command module that adds its subcommand(s) to the parser."""


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser with `command`'s subcommand only (so only its module is imported: `settings`
    does not load the capture stack), or with every command for help and unknown words."""
    parser = argparse.ArgumentParser(prog=PROG, description="Callreel training-recording agent.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {VERSION}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = [COMMAND_MODULES[command]] if command in COMMAND_MODULES else PARSER_ADDERS
    for module_name in chosen:
        module = importlib.import_module(module_name)
        getattr(module, PARSER_ADDERS[module_name])(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["hook"]:
        # The softphone waits for this command: skip the full parser and its imports.
        from agent.commands.hook import main as hook_main  # noqa: PLC0415

        return hook_main(argv[1:])
    args = build_parser(argv[0] if argv else None).parse_args(argv)
    module = importlib.import_module(COMMAND_MODULES[args.command])
    run_command = cast(Callable[[argparse.Namespace], int], module.run_command)
    return run_command(args)


if __name__ == "__main__":
    sys.exit(main())
