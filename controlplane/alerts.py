"""Alerts: conditions an operator must hear about, as an ERROR log line and a counter."""

from __future__ import annotations

import logging
from typing import Any

from prometheus_client import Counter

log = logging.getLogger("wharf.alerts")

ALERTS = Counter("wharf_alerts_total", "Alerts raised, by alert", ["alert"])


def raise_alert(alert: str, message: str, **details: Any) -> None:
    """Record an alert: one log line with the alert's name and details, and the counter."""
    ALERTS.labels(alert).inc()
    log.error(message, extra={"alert": alert, **details})
