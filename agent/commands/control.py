"""`callreel-agent pause|resume|status`: ask the running agent over its control socket.

Light on imports, like the hook command: a keyboard shortcut or a script runs these.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from agent.control.channel import ControlError, send_command
from agent.paths import AgentPaths

COMMANDS = {
    "pause": "pause the recording in progress (R6); nothing is kept until you resume",
    "resume": "resume after a pause made from the tray, the hotkey or this command",
    "status": "print the running agent's state",
}


def add_control_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for name, help_text in COMMANDS.items():
        parser = commands.add_parser(name, help=help_text, description=help_text)
        parser.add_argument("--root", type=Path, metavar="DIR", help="the agent's --root")
        if name == "status":
            parser.add_argument("--json", action="store_true", help="print the answer as JSON")


def run_command(args: argparse.Namespace) -> int:
    paths = AgentPaths.at(args.root)
    try:
        answer = send_command(paths.runtime_dir, {"command": args.command})
    except ControlError as exc:
        print(f"callreel-agent {args.command}: {exc}", file=sys.stderr)
        return 1
    if not answer.get("ok"):
        print(f"callreel-agent {args.command}: {answer.get('error')}", file=sys.stderr)
        return 1
    if args.command == "status":
        if args.json:
            print(json.dumps(answer, indent=2))
        else:
            for key, value in answer.items():
                if key != "ok":
                    print(f"{key}: {value}")
    else:
        print(f"{args.command}: done")
    return 0
