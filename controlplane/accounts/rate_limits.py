"""The one rule for every sign-in (passwords, gate passwords, providers): too many failures
from an address, or on an account, within the window, and the next try waits."""

from __future__ import annotations

import math

from controlplane.errors import RateLimited
from controlplane.store import Store


async def refuse_when_limited(
    store: Store, client_address: str, account: str, max_failures: int, window: int
) -> None:
    """RateLimited (with the seconds to wait) once the address or the account failed too often."""
    counts = await store.login_failure_counts(client_address, account, window)
    waits = [
        retry_after
        for failures, retry_after in (
            (counts.address_failures, counts.address_retry_after),
            (counts.account_failures, counts.account_retry_after),
        )
        if failures >= max_failures
    ]
    if waits:
        raise RateLimited(
            "too many failed sign-ins; try again later", retry_after=max(1, math.ceil(max(waits)))
        )


async def record_failure(store: Store, client_address: str, account: str, window: int) -> None:
    """Count one failure; old ones are dropped here, so the table stays as small as the window."""
    await store.record_login_failure(client_address, account)
    await store.prune_login_failures(window)
