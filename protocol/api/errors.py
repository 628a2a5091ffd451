"""The vault's one shape for a refusal."""

from __future__ import annotations

from pydantic import Field

from protocol.api.base import Reply


class ErrorBody(Reply):
    """Every refusal: a stable code for programs and a message for people."""

    error: str
    message: str


class ValidationProblem(Reply):
    loc: list[str | int]
    """Where in the request: ("body", "calls"), ("query", "purpose")..."""
    msg: str
    type: str


class ValidationErrorBody(Reply):
    """422: the request does not fit the route's schema; `message` summarises `detail`."""

    error: str
    message: str
    detail: list[ValidationProblem] = Field(default_factory=list)
