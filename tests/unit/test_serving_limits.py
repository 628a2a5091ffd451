"""The vault's serving limits: options with their defaults, refused when not positive."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from vault.api.serving_limits import ServingLimits, add_limit_options, limits_from_options
from vault.errors import VaultError


def _parse(*argv: str) -> ServingLimits:
    parser = argparse.ArgumentParser()
    add_limit_options(parser)
    return limits_from_options(parser.parse_args(argv))


def test_no_options_give_the_documented_defaults() -> None:
    assert _parse() == ServingLimits()


def test_every_limit_has_an_option() -> None:
    changed = _parse("--max-connections", "7", "--header-timeout", "2.5", "--keep-alive", "3")
    assert (changed.max_connections, changed.header_timeout_s, changed.keep_alive_s) == (7, 2.5, 3)
    parser = argparse.ArgumentParser()
    add_limit_options(parser)
    options = {action.dest for action in parser._actions}
    assert options >= {f"limit_{f.name}" for f in dataclasses.fields(ServingLimits)}


@pytest.mark.parametrize("value", ["0", "-1"])
def test_a_limit_that_is_not_positive_is_refused_by_name(value: str) -> None:
    with pytest.raises(VaultError, match="--min-body-rate must be above 0"):
        _parse("--min-body-rate", value)
