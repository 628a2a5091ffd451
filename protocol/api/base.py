"""The two kinds of JSON body, and how each side reads the other's.

A `Request` is what a client sends: the vault refuses unknown fields, so a typo or a renamed
field is an error with a message instead of being dropped. A `Reply` is what the vault sends:
its schema is closed (the vault sends exactly these fields), but a client ignores fields it does
not know, so a vault can be upgraded before its agents (docs/design.md, "Version skew").
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Reply(BaseModel):
    model_config = ConfigDict(
        extra="ignore", frozen=True, json_schema_extra={"additionalProperties": False}
    )
