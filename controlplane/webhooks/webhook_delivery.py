"""The delivery loop: claims due deliveries (FOR UPDATE SKIP LOCKED, so two loops never send one
at once), POSTs each, signed, to the very address its host was just checked at, and records the
outcome: delivered on a 2xx, else due again after the next step of the back-off, or failed
after the last. A NOTIFY wakes it when an alert is queued; it also prunes the delivery log."""

from __future__ import annotations

import asyncio
import contextlib
import http.cookiejar
import logging
import os
import secrets
import socket
import ssl
import time
from dataclasses import dataclass

import httpx2
from prometheus_client import Counter

from controlplane.errors import Invalid
from controlplane.logs import redact_text
from controlplane.models import ClaimedDelivery
from controlplane.secrets import SecretBox
from controlplane.store.sql_base import Waiter
from controlplane.store.webhook_sql import WebhookQueries
from controlplane.webhooks.webhook_signatures import signature_header
from controlplane.webhooks.webhook_urls import destination, parse_webhook_url

log = logging.getLogger(__name__)

# Seconds before each retry: 10 s, 30 s, 2 min, 10 min, 1 h; six attempts in all.
DEFAULT_RETRY_DELAYS = (10.0, 30.0, 120.0, 600.0, 3600.0)
USER_AGENT = "Wharf-Webhooks/1"
# The delivery log keeps 30 days, and at most the newest 1,000 deliveries of each webhook.
LOG_DAYS = 30
LOG_PER_WEBHOOK = 1000
PRUNE_EVERY = 3600.0
# What an error message keeps of an exception's text.
_ERROR_CHARS = 300

ATTEMPTS = Counter(
    "wharf_webhook_attempts_total",
    "Webhook delivery attempts, by outcome (delivered, retry, failed)",
    ["outcome"],
)


@dataclass(frozen=True)
class DeliveryOptions:
    """How deliveries are sent and retried."""

    retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS
    timeout: float = 10.0  # one attempt, from resolving the host to the answer's status line
    allow_private: bool = False
    poll_seconds: float = 30.0  # a safety net: NOTIFY wakes the loop for new deliveries
    batch: int = 10  # deliveries one loop sends at once
    log_days: int = LOG_DAYS
    log_per_webhook: int = LOG_PER_WEBHOOK
    # The CAs receivers' certificates are checked against; None: the system's.
    tls_trust: ssl.SSLContext | None = None

    @property
    def lease_seconds(self) -> float:
        """How long a claimed delivery is not due again: longer than any attempt lasts."""
        return 3 * self.timeout + 5


@dataclass(frozen=True)
class Attempt:
    """What one POST came to."""

    delivered: bool
    response_status: int | None
    error: str | None


def _client(options: DeliveryOptions) -> httpx2.AsyncClient:
    """The loop's one HTTP client: no redirects followed, no proxy or certificate files from the
    environment (a proxy would connect to another address than the one checked), no cookies
    kept (one receiver's would go to another on the same address), and no connection kept
    (one made for a host must never carry another host's request)."""
    no_cookies = http.cookiejar.CookieJar(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    return httpx2.AsyncClient(
        follow_redirects=False,
        trust_env=False,
        cookies=no_cookies,
        verify=options.tls_trust or ssl.create_default_context(),
        timeout=httpx2.Timeout(options.timeout),
        limits=httpx2.Limits(max_keepalive_connections=0),
    )


def _described(exc: httpx2.HTTPError, timeout: float) -> str:
    """An HTTP failure in words (never the URL: its path may be a secret, as Slack's are)."""
    if isinstance(exc, httpx2.TimeoutException):
        return f"no answer within {timeout:g} s"
    words = str(exc) or type(exc).__name__
    prefix = "could not connect" if isinstance(exc, httpx2.ConnectError) else "failed"
    return redact_text(f"{prefix}: {words}")[:_ERROR_CHARS]


def retry_delay(delays: tuple[float, ...], attempts: int) -> float | None:
    """Seconds until the next attempt after `attempts` failed ones; None: give up."""
    return delays[attempts - 1] if attempts <= len(delays) else None


class WebhookDeliverer:
    """One delivery loop; every process that runs a build worker runs one."""

    def __init__(self, store: WebhookQueries, box: SecretBox, options: DeliveryOptions) -> None:
        self.store = store
        self.box = box
        self.options = options
        self.name = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"

    async def run(self, stop: asyncio.Event) -> None:
        """Send due deliveries until stop is set; an attempt under way is finished first."""
        async with _client(self.options) as http, self.store.delivery_notifications() as wait:
            pruned_at = float("-inf")
            while not stop.is_set():
                sent = 0
                try:
                    if time.monotonic() - pruned_at > PRUNE_EVERY:
                        await self.store.prune_deliveries(
                            self.options.log_days, self.options.log_per_webhook
                        )
                        pruned_at = time.monotonic()
                    sent = await self.deliver_due(http)
                    pause = await self.store.seconds_to_next_delivery()
                except Exception:
                    log.exception("webhook deliveries could not be claimed; retrying")
                    pause = 1.0
                if sent:
                    continue  # more may be due
                chosen = self.options.poll_seconds if pause is None else pause
                # A floor: a due delivery another loop is claiming this instant is not a spin.
                await _until(wait, stop, min(max(chosen, 0.05), self.options.poll_seconds))

    async def deliver_due(self, http: httpx2.AsyncClient) -> int:
        """Claim the due deliveries (a batch) and send them at once; how many were claimed."""
        claim = f"{self.name}:{secrets.token_hex(4)}"
        options = self.options
        claimed = await self.store.claim_deliveries(claim, options.lease_seconds, options.batch)
        await asyncio.gather(*(self._deliver(http, delivery) for delivery in claimed))
        return len(claimed)

    async def _deliver(self, http: httpx2.AsyncClient, delivery: ClaimedDelivery) -> None:
        try:
            attempt = await self.attempt(http, delivery)
        except Exception:
            log.exception("a webhook attempt failed inside Wharf", extra={"delivery": delivery.id})
            attempt = Attempt(False, None, "Wharf could not send it (its log says why)")
        retry_in = (
            None if attempt.delivered else retry_delay(self.options.retry_delays, delivery.attempts)
        )
        outcome = (
            "delivered" if attempt.delivered else ("retry" if retry_in is not None else "failed")
        )
        ATTEMPTS.labels(outcome).inc()
        try:
            recorded = await self.store.record_attempt(
                delivery.id,
                delivery.claim,
                delivered=attempt.delivered,
                response_status=attempt.response_status,
                error=attempt.error,
                retry_in=retry_in,
            )
        except Exception:
            # Its lease runs out and it is tried again: a receiver may see it twice (the
            # event id is the same), never lose it.
            log.exception("a webhook attempt's outcome could not be recorded")
            return
        details = {
            "webhook": delivery.webhook_id,
            "delivery": delivery.id,
            "alert_event": delivery.event,
            "attempt": delivery.attempts,
            "outcome": outcome,
            "recorded": recorded,
        }
        if attempt.delivered:
            log.info("webhook delivered", extra=details)
        else:
            log.warning("webhook attempt failed", extra={**details, "error": attempt.error})

    async def attempt(self, http: httpx2.AsyncClient, delivery: ClaimedDelivery) -> Attempt:
        """POST the delivery once: checked, signed, timed out, never redirected."""
        try:
            secret = self.box.open(delivery.secret_sealed)
        except ValueError:
            return Attempt(False, None, "the webhook's secret cannot be read with this secret key")
        body = delivery.body.encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "Wharf-Event": delivery.event,
            "Wharf-Delivery": str(delivery.id),
            "Wharf-Signature": signature_header(secret, int(time.time()), body),
        }
        timeout = self.options.timeout
        try:
            async with asyncio.timeout(timeout):
                target = parse_webhook_url(delivery.url)
                address = await destination(target, self.options.allow_private)
                # Connect to the address just checked (a second lookup could answer another:
                # DNS rebinding), while the Host header and TLS's server name stay the URL's.
                request = http.build_request(
                    "POST",
                    target.via(address),
                    content=body,
                    headers={**headers, "Host": target.host_header},
                    extensions={"sni_hostname": target.host} if target.scheme == "https" else {},
                )
                response = await http.send(request, stream=True)
                await response.aclose()  # only the status counts; the body is never read
        except Invalid as exc:
            return Attempt(False, None, exc.message)
        except TimeoutError:
            return Attempt(False, None, f"no answer within {timeout:g} s")
        except httpx2.HTTPError as exc:
            return Attempt(False, None, _described(exc, timeout))
        status = response.status_code
        if 200 <= status < 300:
            return Attempt(True, status, None)
        if 300 <= status < 400:
            return Attempt(
                False, status, f"answered {status}, a redirect: Wharf does not follow them"
            )
        return Attempt(False, status, f"answered {status}")


async def _until(wait: Waiter, stop: asyncio.Event, seconds: float) -> None:
    """Return after `seconds`, on a notification, or once stop is set, whichever comes first."""
    waiter = asyncio.ensure_future(wait(seconds))
    stopper = asyncio.ensure_future(stop.wait())
    await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
    for task in (waiter, stopper):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
