"""`callreel-vault session ...`: trainer commands that talk to a running vault over HTTPS
with a command-line token (role-checked and logged like the console)."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from protocol.api.agent import TrainingSessionList
from protocol.api.base import Request
from protocol.api.errors import ErrorBody
from protocol.api.staff import NewSession, SessionEnded, SessionStarted
from protocol.api.vocabulary import Purpose
from protocol.pinned_tls import client_ssl_context

DEFAULT_URL = "https://127.0.0.1:8443"
Answer = TypeVar("Answer", bound=BaseModel)


def _add_connection_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url",
        default=os.environ.get("CALLREEL_VAULT_URL", DEFAULT_URL),
        help="vault address (env CALLREEL_VAULT_URL)",
    )
    parser.add_argument(
        "--ca",
        type=Path,
        default=os.environ.get("CALLREEL_VAULT_CA"),
        help="the vault's certificate file to trust (env CALLREEL_VAULT_CA);"
        " the embedded vault's is DATA/tls/vault-tls.crt",
    )
    parser.add_argument(
        "--token-file",
        type=Path,
        help="file holding a token from `callreel-vault token create`"
        " (default: env CALLREEL_TOKEN)",
    )


def add_remote_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    session = commands.add_parser("session", help="training sessions (trainers)").add_subparsers(
        dest="session_command", required=True, metavar="ACTION"
    )
    start = session.add_parser("start", help="allow recording of an agent's next calls")
    _add_connection_options(start)
    target = start.add_mutually_exclusive_group(required=True)
    target.add_argument("--agent")
    target.add_argument("--team")
    start.add_argument("--calls", type=int, default=1)
    start.add_argument("--purpose", choices=[p.value for p in Purpose], default="training")
    start.add_argument("--hours", type=float, default=8.0, help="expiry, hours from now")
    start.add_argument("--notice", required=True, help="text the agent sees before recording")
    listing = session.add_parser("list", help="list training sessions")
    _add_connection_options(listing)
    end = session.add_parser("end", help="end a training session")
    _add_connection_options(end)
    end.add_argument("session_id")


def _token(args: argparse.Namespace) -> str:
    if args.token_file is not None:
        return str(args.token_file.read_text()).strip()
    token = os.environ.get("CALLREEL_TOKEN", "").strip()
    if not token:
        raise ValueError("no token: set CALLREEL_TOKEN or pass --token-file")
    return token


def _call(
    args: argparse.Namespace,
    answer: type[Answer],
    method: str,
    path: str,
    body: Request | None = None,
) -> Answer:
    verify: Any = True if args.ca is None else client_ssl_context(Path(args.ca))
    headers = {"Authorization": f"Bearer {_token(args)}", "Content-Type": "application/json"}
    content = None if body is None else body.model_dump_json()
    with httpx.Client(base_url=args.url, verify=verify, timeout=30) as client:
        response = client.request(method, path, content=content, headers=headers)
    if response.status_code >= 400:
        try:
            message = ErrorBody.model_validate_json(response.content).message
        except ValidationError:
            message = response.text[:500]
        raise ValueError(f"the vault refused ({response.status_code}): {message}")
    try:
        return answer.model_validate_json(response.content)
    except ValidationError as exc:
        raise ValueError(f"the vault's answer is not a {answer.__name__}: {exc}") from None


def run_remote(args: argparse.Namespace) -> int | None:
    if args.command != "session":
        return None
    try:
        if args.session_command == "start":
            request = NewSession(
                purpose=Purpose(args.purpose),
                calls=args.calls,
                expires_at=datetime.now(UTC) + timedelta(hours=args.hours),
                notice_text=args.notice,
                agent=args.agent,
                team=args.team,
            )
            started = _call(args, SessionStarted, "POST", "/api/v1/sessions", request)
            print(f"session {started.session_id} started")
        elif args.session_command == "list":
            listed = _call(args, TrainingSessionList, "GET", "/api/v1/sessions")
            print(listed.model_dump_json(indent=2))
        else:
            path = f"/api/v1/sessions/{args.session_id}/end"
            _call(args, SessionEnded, "POST", path)
            print(f"session {args.session_id} ended")
    except (ValueError, OSError, httpx.HTTPError) as exc:
        print(f"callreel-vault session: {exc}", file=sys.stderr)
        return 1
    return 0
