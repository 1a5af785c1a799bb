"""Certificates from an ACME CA: account, order, HTTP-01 or DNS-01 challenges, then the chain."""

from __future__ import annotations

import asyncio
import datetime
import logging
import math
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from acme import client, crypto_util, errors, messages
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from josepy.errors import DeserializationError
from josepy.jwa import ES256, ES384, RS256, JWASignature
from josepy.jwk import JWK, JWKEC, JWKRSA

from controlplane.atomic import write_atomically
from controlplane.names import is_dns_label
from controlplane.secrets import Secret
from controlplane.tls.dns_providers import DnsProvider, DnsProviderError

logger = logging.getLogger(__name__)

_T = TypeVar("_T")
# Authorization polling: start fast (a CA validates in well under a second when it can), back off.
_POLL_FIRST = 0.2
_POLL_MAX = 2.0
# A Retry-After past this is clamped: the overall timeout still bounds the wait.
_RETRY_AFTER_MAX = 10.0
_MESSAGE_MAX = 500
# RFC 8555 §8.3: a token is base64url; anything else must never become a file name.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,256}")
_TERMINAL = {"invalid", "deactivated", "expired", "revoked"}


@dataclass(frozen=True)
class IssuedCertificate:
    """A certificate the CA issued, with the new private key it certifies."""

    cert_pem: str  # the leaf
    chain_pem: str  # the rest of the full chain, issuer first
    key_pem: Secret  # the new private key (EC P-256, PKCS#8 PEM); never logged


class AcmeError(Exception):
    """Issuance failed; the message is safe to show (the CA's problem detail, never a key)."""


@dataclass
class _Pending:
    """One authorization whose challenge has been set up and must be answered and awaited."""

    authz: messages.AuthorizationResource
    challenge: messages.ChallengeBody
    response: Any  # challenges.KeyAuthorizationChallengeResponse
    name: str


# Sets up one challenge: (name shown, record/token name, validation text) → nothing.
_Present = Callable[[messages.ChallengeBody, str, str], Awaitable[None]]


def _short(text: str) -> str:
    """One error message, kept short enough for a log line and an API answer."""
    text = " ".join(text.split())
    return text if len(text) <= _MESSAGE_MAX else text[: _MESSAGE_MAX - 1] + "…"


def _problem(error: messages.Error) -> str:
    """A CA problem document as one readable line: detail first, then any subproblems."""
    text = error.detail or error.title or error.description or str(error.typ)
    if error.code:
        text += f" ({error.code})"
    for sub in error.subproblems or ():
        where = f"{sub.identifier.value}: " if sub.identifier else ""
        text += f"; {where}{sub.detail or sub.description or sub.typ}"
    return text


def _display(authz: messages.AuthorizationResource) -> str:
    """The name an authorization is for, with its `*.` when it is a wildcard's."""
    value = str(authz.body.identifier.value)
    return f"*.{value}" if authz.body.wildcard else value


def _normalise(hostnames: list[str], *, wildcards: bool) -> list[str]:
    """Lower-case DNS names without trailing dots, in order, once each; AcmeError otherwise."""
    names: list[str] = []
    for raw in hostnames:
        name = raw.strip().rstrip(".").lower()
        labels = name.split(".")
        if labels[0] == "*":
            if not wildcards:
                raise AcmeError(f"HTTP-01 cannot validate the wildcard {name}; use DNS-01")
            labels = labels[1:]
        if len(labels) < 2 or len(name) > 253 or not all(is_dns_label(label) for label in labels):
            raise AcmeError(f"{raw!r} is not a DNS name a public CA can certify")
        if name not in names:
            names.append(name)
    if not names:
        raise AcmeError("no hostname to certify")
    return names


def _jwk(account_key_pem: Secret) -> tuple[JWK, JWASignature]:
    """The account key as a JWK and its JWS algorithm (ES256/ES384 or RS256)."""
    # Fixed messages: a parser's error could quote bytes of the key.
    try:
        key = serialization.load_pem_private_key(account_key_pem.reveal().encode(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise AcmeError("the ACME account key is not an unencrypted PEM private key") from None
    if isinstance(key, ec.EllipticCurvePrivateKey):
        algorithms = {"secp256r1": ES256, "secp384r1": ES384}
        if key.curve.name in algorithms:
            return JWKEC(key=key), algorithms[key.curve.name]
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size >= 2048:
        return JWKRSA(key=key), RS256
    raise AcmeError("the ACME account key must be EC P-256, EC P-384 or RSA of 2048 bits or more")


def _new_key_pem() -> str:
    """A new EC P-256 private key as PKCS#8 PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _split_fullchain(fullchain_pem: str) -> tuple[str, str]:
    """(leaf PEM, the rest of the chain as PEM) from the CA's fullchain download."""
    try:
        certificates = x509.load_pem_x509_certificates(fullchain_pem.encode())
    except ValueError:
        raise AcmeError("the CA sent a certificate that is not PEM") from None
    pems = [cert.public_bytes(serialization.Encoding.PEM).decode() for cert in certificates]
    return pems[0], "".join(pems[1:])


def _retry_after(response: Any, default: float) -> float:
    """Seconds the CA asks to wait before polling again, within [default, _RETRY_AFTER_MAX]."""
    if "Retry-After" not in response.headers:
        return default
    when = client.ClientV2.retry_after(response, math.ceil(default))
    seconds = (when - datetime.datetime.now()).total_seconds()
    return min(max(seconds, default), _RETRY_AFTER_MAX)


class AcmeClient:
    """Issues certificates from one ACME directory, under one account (found or registered).

    Every blocking call of the `acme` library runs in a thread. `timeout` bounds each request
    and each wait on the CA (validation, then issuance).
    """

    def __init__(
        self,
        directory_url: str,
        account_key_pem: Secret | None,
        contact_email: str | None,
        *,
        ca_bundle: Path | None = None,
        timeout: float = 30.0,
    ) -> None:
        if ca_bundle is not None and not ca_bundle.is_file():
            raise AcmeError(f"the CA bundle {ca_bundle} is not a file")
        self._directory_url = directory_url
        if account_key_pem is None:
            account_key_pem = self.new_account_key()
        self._account_key_pem = account_key_pem
        self._jwk, self._alg = _jwk(self._account_key_pem)
        self._contact_email = contact_email
        self._ca_bundle = ca_bundle
        self._timeout = timeout
        self._acme: client.ClientV2 | None = None
        # One issuance at a time: the library's client and its nonce pool are not meant for
        # concurrent use from several threads.
        self._lock = asyncio.Lock()

    @staticmethod
    def new_account_key() -> Secret:
        """A new account key (EC P-256, PEM); the CA's JWS accepts ES256."""
        return Secret(_new_key_pem())

    @property
    def account_key_pem(self) -> Secret:
        """The account key; store it to keep the same account across restarts."""
        return self._account_key_pem

    @property
    def account_url(self) -> str | None:
        """The account's URL at the CA, once registered or found."""
        if self._acme is None or self._acme.net.account is None:
            return None
        return str(self._acme.net.account.uri)

    async def register(self) -> str:
        """Register the account (agreeing to the terms), or find the key's existing one; its URL."""
        async with self._lock:
            await self._client()
        url = self.account_url
        assert url is not None
        return url

    async def issue_http01(self, hostnames: list[str], challenge_dir: Path) -> IssuedCertificate:
        """Issue for hostnames, proving control with files in challenge_dir named by token."""
        names = _normalise(hostnames, wildcards=False)
        written: list[Path] = []

        async def present(challenge: messages.ChallengeBody, name: str, validation: str) -> None:
            token = str(challenge.chall.encode("token"))
            if not _TOKEN.fullmatch(token):
                raise AcmeError(f"the CA sent an HTTP-01 token for {name} that is not base64url")
            path = challenge_dir / token
            written.append(path)
            await asyncio.to_thread(write_atomically, path, validation)

        try:
            return await self._issue(names, "http-01", present, 0.0)
        finally:
            for path in written:
                try:
                    path.unlink(missing_ok=True)
                except OSError as exc:
                    logger.warning("acme: cannot remove the challenge file %s: %s", path, exc)

    async def issue_dns01(
        self, hostnames: list[str], provider: DnsProvider, *, propagation_wait: float = 0.0
    ) -> IssuedCertificate:
        """Issue for hostnames (wildcards allowed), proving control with TXT records."""
        names = _normalise(hostnames, wildcards=True)
        published: list[tuple[str, str]] = []

        async def present(challenge: messages.ChallengeBody, name: str, validation: str) -> None:
            # A wildcard's authorization names the domain without "*.", as RFC 8555 §7.1.3 says.
            fqdn = str(challenge.chall.validation_domain_name(name.removeprefix("*.")))
            published.append((fqdn, validation))
            try:
                await provider.add_txt(fqdn, validation)
            except DnsProviderError as exc:
                raise AcmeError(f"cannot publish the TXT record {fqdn}: {exc}") from None

        try:
            return await self._issue(names, "dns-01", present, propagation_wait)
        finally:
            for fqdn, value in published:
                try:
                    await provider.remove_txt(fqdn, value)
                except DnsProviderError as exc:
                    logger.warning("acme: cannot remove the TXT record %s: %s", fqdn, exc)

    async def _call(self, what: str, function: Callable[..., _T], *args: Any) -> _T:
        """Run one blocking library call in a thread; AcmeError, saying what failed, on failure."""
        try:
            # The library's own timeouts bound each request; this bounds a call as a whole.
            async with asyncio.timeout(self._timeout * 2 + 5):
                return await asyncio.to_thread(function, *args)
        except TimeoutError:
            raise AcmeError(f"{what}: no answer from the CA within {self._timeout:g} s") from None
        except messages.Error as exc:
            raise AcmeError(_short(f"{what}: {_problem(exc)}")) from None
        except errors.IssuanceError as exc:
            raise AcmeError(_short(f"{what}: {_problem(exc.error)}")) from None
        except errors.TimeoutError:
            raise AcmeError(f"{what}: the CA did not finish within {self._timeout:g} s") from None
        except errors.Error as exc:
            raise AcmeError(_short(f"{what}: {exc or type(exc).__name__}")) from None
        except DeserializationError as exc:
            raise AcmeError(_short(f"{what}: the CA's answer is not valid ACME: {exc}")) from None
        except OSError as exc:
            # requests' errors (connection, TLS, timeout) are OSErrors.
            raise AcmeError(
                _short(f"{what}: cannot reach the CA at {self._directory_url}: {exc}")
            ) from None

    def _connect(self) -> client.ClientV2:
        """Fetch the directory and register or find the account (blocking)."""
        # acme hands verify_ssl to requests' `verify`, which also takes a CA bundle path.
        verify: Any = str(self._ca_bundle) if self._ca_bundle else True
        net = client.ClientNetwork(
            key=self._jwk,
            alg=self._alg,
            verify_ssl=verify,
            user_agent="wharf-acme",
            timeout=max(1, math.ceil(self._timeout)),
        )
        directory = client.ClientV2.get_directory(self._directory_url, net)
        acme = client.ClientV2(directory, net)
        if acme.external_account_required():
            raise AcmeError("the CA requires external account binding, which Wharf does not do")
        registration = messages.NewRegistration.from_data(
            email=self._contact_email, terms_of_service_agreed=True
        )
        try:
            acme.new_account(registration)
        except errors.ConflictError as exc:
            # The key already has an account (RFC 8555 §7.3.1): sign with its URL from now on.
            net.account = messages.RegistrationResource(
                uri=exc.location, body=messages.Registration()
            )
        return acme

    async def _client(self) -> client.ClientV2:
        """The connected client, connecting on first use (call under the lock)."""
        if self._acme is None:
            self._acme = await self._call("register the ACME account", self._connect)
            logger.info("acme: using account %s", self.account_url)
        return self._acme

    async def _issue(
        self, names: list[str], kind: str, present: _Present, propagation_wait: float
    ) -> IssuedCertificate:
        """Order names, set up and answer each pending challenge of kind, finalize, download."""
        key_pem = _new_key_pem()
        csr_pem = crypto_util.make_csr(key_pem.encode(), names)
        async with self._lock:
            acme = await self._client()
            order = await self._call(f"order {', '.join(names)}", acme.new_order, csr_pem)
            pending: list[_Pending] = []
            for authz in order.authorizations:
                name = _display(authz)
                status = authz.body.status.name
                if status == "valid":
                    continue  # the CA reused an earlier validation of this account
                if status != "pending":
                    raise AcmeError(f"the authorization for {name} is {status}")
                challenge = next((c for c in authz.body.challenges if c.chall.typ == kind), None)
                if challenge is None:
                    raise AcmeError(f"the CA offers no {kind} challenge for {name}")
                response, validation = challenge.chall.response_and_validation(self._jwk)
                await present(challenge, name, validation)
                pending.append(_Pending(authz, challenge, response, name))
            if pending and propagation_wait > 0:
                await asyncio.sleep(propagation_wait)
            for item in pending:
                await self._call(
                    f"answer the {kind} challenge for {item.name}",
                    acme.answer_challenge,
                    item.challenge,
                    item.response,
                )
            for item in pending:
                await self._await_validation(acme, item, kind)
            deadline = datetime.datetime.now() + datetime.timedelta(seconds=self._timeout)
            order = await self._call(
                f"finalize the order for {', '.join(names)}", acme.finalize_order, order, deadline
            )
        if not order.fullchain_pem:
            raise AcmeError("the CA finished the order without a certificate")
        cert_pem, chain_pem = _split_fullchain(order.fullchain_pem)
        logger.info("acme: issued a certificate for %s", ", ".join(names))
        return IssuedCertificate(cert_pem=cert_pem, chain_pem=chain_pem, key_pem=Secret(key_pem))

    async def _await_validation(self, acme: client.ClientV2, item: _Pending, kind: str) -> None:
        """Poll an authorization until the CA has validated it; AcmeError with its reason if not."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        delay = _POLL_FIRST
        authz = item.authz
        while True:
            authz, response = await self._call(
                f"check the authorization for {item.name}", acme.poll, authz
            )
            status = authz.body.status.name
            if status == "valid":
                return
            if status in _TERMINAL:
                reasons = [
                    _problem(challenge.error)
                    for challenge in authz.body.challenges
                    if challenge.error is not None
                ]
                reason = "; ".join(reasons) or f"the authorization is {status}"
                raise AcmeError(_short(f"the CA could not validate {item.name} ({kind}): {reason}"))
            wait = _retry_after(response, delay)
            if loop.time() + wait > deadline:
                raise AcmeError(
                    f"the CA did not validate {item.name} ({kind}) within {self._timeout:g} s"
                )
            await asyncio.sleep(wait)
            delay = min(delay * 2, _POLL_MAX)
