"""Domain errors; the web layer maps each to one HTTP status in the API's error shape."""

from __future__ import annotations

from typing import Any


class WharfError(Exception):
    """Base of every error a user can cause; carries a machine-readable code."""

    status = 400
    default_code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.details = details


class Invalid(WharfError):
    """The input breaks a rule (422)."""

    status = 422
    default_code = "invalid"


class NotFound(WharfError):
    """No such object, or not one the caller may see (404)."""

    status = 404
    default_code = "not_found"


class Conflict(WharfError):
    """The object exists already or is in the wrong state (409)."""

    status = 409
    default_code = "conflict"


class Unauthorized(WharfError):
    """Missing or bad credentials (401)."""

    status = 401
    default_code = "unauthorized"


class Forbidden(WharfError):
    """Authenticated, but the action needs an admin (403)."""

    status = 403
    default_code = "forbidden"


class RateLimited(WharfError):
    """Too many attempts; try again after `retry_after` seconds (429)."""

    status = 429
    default_code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
