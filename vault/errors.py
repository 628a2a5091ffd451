"""Errors the vault reports to its callers: each carries the HTTP status it maps to and a
message that says what was wrong and what to do."""

from __future__ import annotations


class VaultError(Exception):
    status = 400
    code = "bad-request"
    retry_after_s: int | None = None
    """Sent as Retry-After when set: when trying again can succeed."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class Unauthenticated(VaultError):
    status = 401
    code = "unauthenticated"


class Forbidden(VaultError):
    status = 403
    code = "forbidden"


class NotFound(VaultError):
    status = 404
    code = "not-found"


class Conflict(VaultError):
    status = 409
    code = "conflict"


class Gone(VaultError):
    status = 410
    code = "gone"


class TooLarge(VaultError):
    status = 413
    code = "too-large"


class Unavailable(VaultError):
    status = 503
    code = "unavailable"
    retry_after_s = 30


class TooManyRequests(VaultError):
    status = 429
    code = "too-many-requests"

    def __init__(self, message: str, *, retry_after_s: int, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after_s = max(1, retry_after_s)
