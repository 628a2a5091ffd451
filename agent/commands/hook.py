"""`callreel-agent hook off|on`: the command a softphone runs when a call starts and ends.

The softphone runs it, so our parent process is the softphone; the agent watches that process
and ends the recording if it crashes mid-call. Softphones (MicroSIP) wait for their commands,
so this must finish within about 100 ms: it imports only the standard library, platformdirs
and the control channel, never the capture stack.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from agent.control.channel import ControlError, send_command
from agent.paths import AgentPaths

PROG = "callreel-agent hook"
TIMEOUT_SECONDS = 0.5


def add_hook_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    hook = commands.add_parser(
        "hook",
        help="tell the running agent that the softphone went off-hook or on-hook",
        description="Run by the softphone when a call starts (off) and ends (on). The"
        " softphone (this command's parent process) is watched: if it exits during the call,"
        " the call counts as ended.",
    )
    _add_arguments(hook)


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("state", choices=("off", "on"), help="off: call started; on: ended")
    parser.add_argument("--call-id", default=None, metavar="ID", help="the softphone's call id")
    parser.add_argument(
        "--runtime-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="the agent's runtime directory (default: the per-user one)",
    )


def run_command(args: argparse.Namespace) -> int:
    runtime_dir: Path | None = args.runtime_dir
    if runtime_dir is None:
        runtime_dir = AgentPaths.for_user().runtime_dir
    request: dict[str, object] = {
        "command": "hook",
        "state": args.state,
        "call_id": args.call_id or None,
        "softphone_pid": os.getppid(),
    }
    try:
        reply = send_command(runtime_dir, request, timeout=TIMEOUT_SECONDS)
    except ControlError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    if reply.get("ok") is not True:
        print(f"{PROG}: the agent refused: {reply.get('error', reply)}", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG)
    _add_arguments(parser)
    return run_command(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
