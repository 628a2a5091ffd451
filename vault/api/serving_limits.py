"""What one client may hold of the vault before it has proved who it is: connections, header
bytes, time to send headers, body rate. The vault enforces these itself (no proxy assumed);
each is a `callreel-vault serve` option, and docs/vault.md lists them with their defaults."""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field
from typing import Any

from vault.errors import VaultError


def _limit(default: float, unit: str, help_text: str) -> Any:
    return field(default=default, metadata={"unit": unit, "help": help_text})


@dataclass(frozen=True, slots=True)
class ServingLimits:
    max_connections: int = _limit(
        4000,
        "connections",
        "open connections at once; beyond it new requests get 503 (an agent waiting for"
        " sessions holds one)",
    )
    header_timeout_s: float = _limit(
        10.0, "seconds", "time a connection has to send a request's headers, or it is closed"
    )
    max_header_bytes: int = _limit(
        16 * 1024, "bytes", "a request's line and headers together; larger ones get 400"
    )
    max_header_count: int = _limit(100, "headers", "headers in one request; more get 431")
    body_grace_s: float = _limit(
        10.0, "seconds", "time a body may take before min-body-rate applies"
    )
    min_body_rate: int = _limit(
        1024,
        "bytes/s",
        "average rate a request body must keep after the grace, or the connection is closed",
    )
    keep_alive_s: int = _limit(
        5, "seconds", "an idle connection between requests is closed after this"
    )
    password_checks: int = _limit(
        1,
        "checks",
        "password hashes computed at once (64 MiB each); further sign-ins wait their turn",
    )

    def __post_init__(self) -> None:
        for limit in dataclasses.fields(self):
            value = getattr(self, limit.name)
            if not value > 0:
                raise VaultError(f"{_option(limit.name)} must be above 0, got {value}")


def _option(name: str) -> str:
    return "--" + name.removesuffix("_s").replace("_", "-")


def _metavar(unit: str) -> str:
    return {"seconds": "SECONDS", "bytes": "BYTES", "bytes/s": "BYTES_PER_S"}.get(unit, "N")


def add_limit_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("limits (docs/vault.md)")
    for limit in dataclasses.fields(ServingLimits):
        group.add_argument(
            _option(limit.name),
            dest=f"limit_{limit.name}",
            type=int if limit.type in (int, "int") else float,
            default=limit.default,
            metavar=_metavar(limit.metadata["unit"]),
            help=f"{limit.metadata['help']} (default {limit.default} {limit.metadata['unit']})",
        )


def limits_from_options(args: argparse.Namespace) -> ServingLimits:
    return ServingLimits(
        **{
            limit.name: getattr(args, f"limit_{limit.name}")
            for limit in dataclasses.fields(ServingLimits)
        }
    )
