"""Reading the console's HTML forms (application/x-www-form-urlencoded).

The bodies are small (the request bounds keep them under 64 KB) and flat, so the standard
library's parser serves; it avoids a multipart parser the console never needs."""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import Request

from vault.errors import VaultError

MAX_FIELDS = 50


class Form:
    def __init__(self, fields: list[tuple[str, str]]) -> None:
        self._fields = dict(fields)

    def as_typed(self, *names: str) -> dict[str, str]:
        """What was typed into these fields, to show the form again after a refusal."""
        return {name: self._fields.get(name, "")[:2000] for name in names}

    def text(self, name: str, *, max_length: int = 2000, required: bool = True) -> str | None:
        value = self._fields.get(name, "").strip()
        if not value:
            if required:
                raise VaultError(f"fill in '{name}'")
            return None
        if len(value) > max_length:
            raise VaultError(f"'{name}' is at most {max_length} characters")
        return value

    def required(self, name: str, *, max_length: int = 2000) -> str:
        return self.text(name, max_length=max_length) or ""  # text() refuses an empty one

    def number(self, name: str, *, low: float, high: float, default: float | None = None) -> float:
        text = self.text(name, max_length=30, required=default is None) or ""
        if not text and default is not None:
            return default
        try:
            value = float(text)
        except ValueError:
            raise VaultError(f"'{name}' must be a number, not {text[:30]!r}") from None
        if not low <= value <= high:  # NaN is refused here too
            raise VaultError(f"'{name}' must be between {low:g} and {high:g}")
        return value


async def read_form(request: Request) -> Form:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise VaultError("send the form as application/x-www-form-urlencoded")
    body = (await request.body()).decode("utf-8", errors="replace")
    try:
        fields = parse_qsl(body, keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except ValueError:
        raise VaultError(f"a form has at most {MAX_FIELDS} fields") from None
    return Form(fields)
