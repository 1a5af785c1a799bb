"""Plain records passed between the store, the services and the web layer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Role = Literal["admin", "member"]
ROLES: tuple[Role, ...] = ("admin", "member")


@dataclass(frozen=True)
class User:
    """An account that can log in; admins see everything, members their own sites."""

    id: int
    email: str
    role: Role
    created_at: datetime

    @property
    def is_admin(self) -> bool:
        """Whether this user may act on every site and manage users."""
        return self.role == "admin"


@dataclass(frozen=True)
class ApiToken:
    """A long-lived API token's metadata (never the token itself)."""

    id: int
    user_id: int
    name: str
    created_at: datetime
    last_used_at: datetime | None


@dataclass(frozen=True)
class Site:
    """A site: a DNS-label name and its owner."""

    id: int
    name: str
    owner_id: int
    created_at: datetime


@dataclass(frozen=True)
class LoginFailureCounts:
    """Recent failed logins for one client address and one account, with when each window frees."""

    address_failures: int
    address_retry_after: float
    account_failures: int
    account_retry_after: float
